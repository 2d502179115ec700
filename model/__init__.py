"""The model layer: findings, check results and fixes (with each automatic fix's typed plan), as plain
immutable data every feature shares. It imports only the base layer."""
