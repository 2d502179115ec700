"""Guarded fixes (policy from tags, guards, plan/apply/verify/rollback actions, audit).

The pipeline's remediate stage is a no-op until the remediation actions land; the action ids the
findings already name (`add-nsg-allow-rule`, `raise-request-timeout`, `reattach-probe`) are the
contract they will implement.
"""
