"""The ``seawall`` command line. Only this layer turns errors into messages and exit codes."""
