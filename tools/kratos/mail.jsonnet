// The body of a mail Kratos's courier delivers to cdp's development
// mailbox: who it is for, what kind of mail, and its code.
function(ctx) {
  recipient: ctx.recipient,
  template_type: ctx.template_type,
  subject: ctx.subject,
  code: if "verification_code" in ctx.template_data then ctx.template_data.verification_code
        else if "recovery_code" in ctx.template_data then ctx.template_data.recovery_code
        else null,
}
