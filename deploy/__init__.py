"""Build the Cloud Functions zip and deploy it as a secret's rotation trigger.

``python -m deploy.package`` (``make package``) builds ``dist/rotation-action.zip``;
``python -m deploy`` (``make deploy``) creates or updates the action, its Secret Manager
trigger, links them and turns on auto rotation. Never deployed itself.
"""
