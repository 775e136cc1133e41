"""Lookup names unique ignoring case and surrounding spaces: lower(trim(name)) (issue 9).

Existing rows are checked first; a clash stops the migration with the rows to merge."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

from common.db import refuse_duplicate_names


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0002_seed_medical_conditions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_duplicate_names("hospital", "name", "city", "country"), migrations.RunPython.noop),
        migrations.RunPython(refuse_duplicate_names("specialization", "name"), migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='hospital',
            name='hospital_name_city_country_ci_uniq',
        ),
        migrations.RemoveConstraint(
            model_name='specialization',
            name='specialization_name_ci_uniq',
        ),
        migrations.AddConstraint(
            model_name='hospital',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('name')), django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('city')), django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('country')), name='hospital_name_city_country_ci_uniq', violation_error_message='This hospital already exists in this city and country.'),
        ),
        migrations.AddConstraint(
            model_name='specialization',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('name')), name='specialization_name_ci_uniq', violation_error_message='A specialization with this name already exists.'),
        ),
    ]
