from django.db import migrations


def create_groups(apps, schema_editor):
    from fde_site.roles import ensure_role_groups

    ensure_role_groups(apps.get_model("auth", "Group"))


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
