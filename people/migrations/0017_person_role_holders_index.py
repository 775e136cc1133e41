from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # The persons list's "contact type" filter reads a role's holders off this index (docs/PERFORMANCE.md,
    # "Admin pages at full size, round 2"), built without locking writes.
    atomic = False

    dependencies = [
        ("people", "0016_merge_request_event_label_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="personcontacttype",
            index=models.Index(fields=["contact_type", "person"], name="person_role_holders_idx"),
        ),
    ]
