"""Pure evaluators of Azure network and Application Gateway rules.

`nsg` (security rules), `routes` (route selection), `tls` (certificate host names), `probes`
(which health probe runs, probe validity, probe-log messages). No I/O: inputs are SDK models
or plain values, so checks and the simulator share one reading of Azure's rules.
"""
