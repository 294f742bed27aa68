from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_dashboard')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Staff',
            name='telegram_name',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
