"""The NCP client: signed, retried, deadline-bounded HTTP and one client per NCP API."""
