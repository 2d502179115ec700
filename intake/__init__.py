"""Intake: turn what arrives (an alert webhook, an Event Grid event) into validated data, or a clear refusal.

Nothing here does I/O except fetching the Entra ID signing keys for secure-webhook tokens.
"""
