from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import OrderStatus, PaymentStatus, PostState
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_bulk_and_schedules')]

    initial = False

    operations = [
        ops.AddField(
            model_name='C2BTransaction',
            name='reversed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='DarajaQuery',
            name='reversal',
            field=fields.ForeignKeyField('models.Reversal', source_field='reversal_id', null=True, db_constraint=True, to_field='id', related_name='queries', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Order',
            name='status',
            field=fields.CharEnumField(default=OrderStatus.OPEN, description='OPEN: open\nPAID: paid\nCANCELLED: cancelled\nREVERSED: reversed', enum_type=OrderStatus, max_length=32),
        ),
        ops.AlterField(
            model_name='Payment',
            name='query_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AlterField(
            model_name='Payment',
            name='status',
            field=fields.CharEnumField(default=PaymentStatus.CREATED, db_index=True, description='CREATED: created\nPENDING: pending\nUNKNOWN: unknown\nPAID: paid\nCANCELLED: cancelled\nINSUFFICIENT_FUNDS: insufficient_funds\nWRONG_PIN: wrong_pin\nTIMED_OUT: timed_out\nFAILED: failed\nREVIEW: review\nREVERSED: reversed', enum_type=PaymentStatus, max_length=32),
        ),
        ops.AddField(
            model_name='Payment',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payment',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payment',
            name='looked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payment',
            name='post_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Payment',
            name='post_state',
            field=fields.CharEnumField(default=PostState.NOT_SENT, description='NOT_SENT: not_sent\nSENDING: sending\nANSWERED: answered\nUNKNOWN: unknown', db_default='not_sent', enum_type=PostState, max_length=32),
        ),
        ops.AddField(
            model_name='Payment',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payment',
            name='resolved_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payment',
            name='retry_of_id',
            field=fields.IntField(null=True, unique=True),
        ),
        ops.AddField(
            model_name='Payment',
            name='reversed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payment',
            name='sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payment',
            name='superseded_by_id',
            field=fields.IntField(null=True),
        ),
        ops.AlterField(
            model_name='Payout',
            name='query_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Payout',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payout',
            name='confirmed_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='looked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='post_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Payout',
            name='post_state',
            field=fields.CharEnumField(default=PostState.NOT_SENT, description='NOT_SENT: not_sent\nSENDING: sending\nANSWERED: answered\nUNKNOWN: unknown', db_default='not_sent', enum_type=PostState, max_length=32),
        ),
        ops.AddField(
            model_name='Payout',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='resolved_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payout',
            name='sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Reversal',
            name='claimed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='looked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='next_query_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='post_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Reversal',
            name='post_state',
            field=fields.CharEnumField(default=PostState.NOT_SENT, description='NOT_SENT: not_sent\nSENDING: sending\nANSWERED: answered\nUNKNOWN: unknown', db_default='not_sent', enum_type=PostState, max_length=32),
        ),
        ops.AddField(
            model_name='Reversal',
            name='query_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Reversal',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Reversal',
            name='resolved_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Reversal',
            name='sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # records already in flight before this migration: whether their POST left is not known,
        # so they are read as sends whose worker stopped (the reconciler asks, never resends)
        ops.RunSQL(
            [
                "UPDATE payment SET post_state = 'sending', claimed_until = NULL "
                "WHERE status = 'created'",
                "UPDATE payment SET post_state = 'answered' WHERE status <> 'created'",
                "UPDATE payout SET post_state = 'sending', claimed_until = NULL "
                "WHERE status = 'submitting'",
                "UPDATE payout SET post_state = 'answered' "
                "WHERE status IN ('submitted', 'unknown', 'completed', 'failed')",
                "UPDATE payout SET confirmed_at = updated_at "
                "WHERE status NOT IN ('awaiting_confirmation', 'cancelled')",
                "UPDATE reversal SET post_state = 'sending' WHERE status = 'submitting'",
                "UPDATE reversal SET post_state = 'answered' WHERE status <> 'submitting'",
            ],
            reverse_sql=[],
        ),
    ]
