from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # The ledger list filtered by event type (docs/PERFORMANCE.md, "Admin pages at full size, round 2"), built
    # without locking writes.
    atomic = False

    dependencies = [
        ("cm_program", "0019_cm_report_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="cmpointstransaction",
            index=models.Index(fields=["event_type", "-occurred_at", "-id"], name="cm_points_event_time_idx"),
        ),
    ]
