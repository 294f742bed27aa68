from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Payout',
            name='rejected_by',
            field=fields.ForeignKeyField('models.Staff', source_field='rejected_by_id', null=True, db_constraint=True, to_field='id', related_name='rejected_payouts', on_delete=OnDelete.SET_NULL),
        ),
    ]
