"""The first note (id 1), so a fresh project has something to retrieve."""

from django.db import migrations


def add_welcome_note(apps, schema_editor):
    Note = apps.get_model("notes", "Note")
    Note.objects.create(id=1, title="Welcome", body="The first note of a fresh project.")


def remove_welcome_note(apps, schema_editor):
    apps.get_model("notes", "Note").objects.filter(id=1).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(add_welcome_note, remove_welcome_note),
    ]
