from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import CallbackKind, Provider
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_money_intents')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='CallbackInbox',
            name='kind',
            field=fields.CharEnumField(db_index=True, description='STK: stk\nB2C_RESULT: b2c_result\nB2C_TIMEOUT: b2c_timeout\nSTATUS_RESULT: status_result\nSTATUS_TIMEOUT: status_timeout\nBALANCE_RESULT: balance_result\nBALANCE_TIMEOUT: balance_timeout\nREVERSAL_RESULT: reversal_result\nREVERSAL_TIMEOUT: reversal_timeout\nC2B_VALIDATION: c2b_validation\nC2B_CONFIRMATION: c2b_confirmation\nAIRTEL_COLLECTION: airtel_collection\nAIRTEL_DISBURSEMENT: airtel_disbursement', enum_type=CallbackKind, max_length=32),
        ),
        ops.AlterModelOptions(
            name='Payment',
            options={'table': 'payment', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One payment request (an STK Push or an Airtel USSD push), recorded before it is sent.'},
        ),
        ops.AddField(
            model_name='Payment',
            name='provider',
            field=fields.CharEnumField(default=Provider.MPESA, db_index=True, description='MPESA: mpesa\nAIRTEL: airtel', db_default='mpesa', enum_type=Provider, max_length=16),
        ),
        ops.AddField(
            model_name='Payment',
            name='transaction_id',
            field=fields.CharField(null=True, unique=True, max_length=32),
        ),
        ops.AlterModelOptions(
            name='Payout',
            options={'table': 'payout', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One payout: a B2C or an Airtel disbursement, with our idempotency key for the provider.'},
        ),
        ops.AddField(
            model_name='Payout',
            name='provider',
            field=fields.CharEnumField(default=Provider.MPESA, db_index=True, description='MPESA: mpesa\nAIRTEL: airtel', db_default='mpesa', enum_type=Provider, max_length=16),
        ),
    ]
