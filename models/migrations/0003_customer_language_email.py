from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import NotificationChannel
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_payout_rejected_by')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='language',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddField(
            model_name='Customer',
            name='language_chosen',
            field=fields.BooleanField(default=False),
        ),
        ops.AlterField(
            model_name='Notification',
            name='channel',
            field=fields.CharEnumField(description='CHAT: chat\nSMS: sms\nWEBHOOK: webhook\nEMAIL: email', enum_type=NotificationChannel, max_length=32),
        ),
        ops.AddField(
            model_name='Order',
            name='email',
            field=fields.CharField(null=True, max_length=254),
        ),
    ]
