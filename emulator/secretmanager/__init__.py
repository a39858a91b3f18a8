"""Secret Manager emulated: state and rules (``models``) apart from the wire (``routes``)."""
