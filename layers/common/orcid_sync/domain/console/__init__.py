"""The admin console: who may sign in (Cognito groups → roles), its session cookie and CSRF, the sign-in flow."""
