from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # The calls list filtered on no-shows (docs/PERFORMANCE.md, "Admin pages at full size, round 2"), built
    # without locking writes.
    atomic = False

    dependencies = [
        ("patients", "0013_navigation_report_lead_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="callhistory",
            index=models.Index(
                fields=["-call_date", "-created_at", "id"],
                name="call_history_no_show_idx",
                condition=models.Q(no_show=True),
            ),
        ),
    ]
