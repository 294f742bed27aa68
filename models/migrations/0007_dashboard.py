from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_airtel_provider')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DashboardLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='dashboard_links', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'dashboard_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time sign-in link the bot gave one staff member (single use, short-lived).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DashboardSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='dashboard_sessions', on_delete=OnDelete.CASCADE)),
                ('link', fields.OneToOneField('models.DashboardLink', source_field='link_id', null=True, db_constraint=True, to_field='id', related_name='session', on_delete=OnDelete.SET_NULL)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('end_reason', fields.CharField(null=True, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'dashboard_session', 'app': 'models', 'pk_attr': 'id', 'table_description': "A signed-in browser: ended by Sign out, the idle time-out or the person's removal."},
            bases=['Model'],
        ),
    ]
