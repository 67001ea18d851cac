"""The pieces the GitHub Action is made of: workflow commands, OIDC credentials, the job
summary and the pull-request comment. Each is a plain function behind an ``hfaction github``
command, so the action does nothing that cannot be run (and tested) locally."""
