"""Lookup names unique ignoring case and surrounding spaces: lower(trim(name)) (issue 9).

Existing rows are checked first; a clash stops the migration with the rows to merge."""

import django.db.models.functions.text
from django.db import migrations, models

from common.db import refuse_duplicate_names


class Migration(migrations.Migration):

    dependencies = [
        ('cm_program', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(refuse_duplicate_names("contingency_management", "name"), migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='cmprogram',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('name')), name='contingency_management_name_ci_uniq', violation_error_message='A CM program with this name already exists.'),
        ),
    ]
