"""Who may do what: accounts (argon2id passwords, lockout), roles and permissions, electronic signatures.

Qt-free; the CLI and the windows call :class:`AccessService`. Every refusal is one line and an audit row.
"""
