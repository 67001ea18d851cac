"""The IAM policies deploying and rendering need, and a check of a policy kept by the user.

Everything here is a pure function over dicts, except the two readers at the edge
(:func:`load_policy_file` and :func:`lint_policy`, which runs parliament).

What is required comes from three sources, never from a guess:

- what CloudFormation calls for each resource type of the stack: the handler permissions
  (create, read, update, delete) in the resource type schemas that cfn-lint bundles,
  generated into ``hfaction/aws/permissions.json`` by ``scripts/gen-permissions.py`` (after
  the SAM transform, so the real types); features of a type the template does not use
  are dropped in :data:`UNUSED_FEATURES`, each with its reason;
- what ``hfaction lambda deploy`` calls itself (its CloudFormation change set) and what its
  image build and push need (:data:`DEPLOY_CALLS`);
- what hfaction calls through :mod:`hfaction.aws.facade` to render (:data:`RENDER_CALLS`).

tests/integration/aws/test_policy_coverage.py records every call a moto run of deploy and
render makes and checks that the printed policy allows each one.

What the deploy part grants is powerful, by nature: CloudFormation creates the stack's
roles with the deployer's credentials, so the policy allows creating, changing and deleting
roles named ``role/STACK-*`` (STACK the stack name) and writing their policies. Those
calls carry an ``iam:PermissionsBoundary`` condition: only for roles whose permissions
boundary is the managed policy ``STACK-boundary`` (:func:`boundary_policy`, printed by
``hfaction policies boundary``: the stack's bucket, function, state machines and logs,
nothing of IAM), which template.yaml's ``PermissionsBoundaryArn`` puts on every role it
makes; lifting a role's boundary or changing that policy is denied. So whoever holds the
deploy part cannot make a role that does more than the stack's. ``iam:PassRole`` is
narrower still: only those roles, and only to Lambda and Step Functions
(``iam:PassedToService``). Give the deploy part to deploy jobs only; a render-only job
needs ``--part render``, which has no IAM action, and a pull-request preview
``--part pull-request``, which writes only sites, starts only the preview state machine
(whose renders the function writes under ``previews/`` only) and cannot touch ``renders/``.

A render of more than 40 chunks at once runs them in a Distributed Map: following it
reads the map run (``mapRun:STACK-render/*``) and its child executions
(``execution:STACK-render/*``), which the render and pull-request parts allow on their
state machines.

The package's modules:

- :mod:`~hfaction.policies.iam`: IAM's wildcard semantics (actions, resource patterns);
- :mod:`~hfaction.policies.required`: the stack's resources and every call it needs;
- :mod:`~hfaction.policies.compress`: size-driven ``svc:Prefix*`` grouping of actions;
- :mod:`~hfaction.policies.documents`: the user, role and trust policies printed;
- :mod:`~hfaction.policies.evaluate`: a policy's statements and IAM's decision on them;
- :mod:`~hfaction.policies.lint`: parliament's findings;
- :mod:`~hfaction.policies.validate`: ``hfaction policies validate`` (file, report).
"""

from hfaction.policies.compress import (
    MANAGED_POLICY_LIMIT,
    READ_VERBS,
    compress_actions,
    policy_size,
)
from hfaction.policies.documents import (
    GITHUB_AUDIENCE,
    GITHUB_OIDC_HOST,
    VERSION,
    RoleRequest,
    boundary_policy,
    github_subject,
    identity_policy,
    role_policies,
    trust_policy,
    user_policy,
)
from hfaction.policies.evaluate import (
    Context,
    Statement,
    Verdict,
    condition_holds,
    decide,
    evaluate,
    over_broad,
    parse_statements,
)
from hfaction.policies.iam import (
    ANY_ACCOUNT,
    ANY_REGION,
    action_matches,
    resource_covers,
    resource_overlaps,
)
from hfaction.policies.lint import (
    LintFinding,
    lint_policy,
)
from hfaction.policies.required import (
    ACCOUNT,
    BOUNDARY_ACTIONS,
    DEPLOY_CALLS,
    NO_PERMISSION_NEEDED,
    PARTS,
    PASS_ROLE_CONDITION,
    PULL_REQUEST_CALLS,
    REGION,
    RENDER_CALLS,
    RESOURCE_KINDS,
    SAM_TRANSFORM,
    STACK_NAME,
    UNUSED_FEATURES,
    Need,
    StackScope,
    boundary_condition,
    check_scope,
    cloudformation_needs,
    handler_kinds,
    permissions_data,
    required,
    unused_feature,
)
from hfaction.policies.validate import (
    Report,
    format_report,
    identity_document,
    load_policy_file,
    validate_document,
    validate_file,
)

__all__ = [
    "ACCOUNT",
    "ANY_ACCOUNT",
    "ANY_REGION",
    "BOUNDARY_ACTIONS",
    "DEPLOY_CALLS",
    "GITHUB_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "MANAGED_POLICY_LIMIT",
    "NO_PERMISSION_NEEDED",
    "PARTS",
    "PASS_ROLE_CONDITION",
    "PULL_REQUEST_CALLS",
    "READ_VERBS",
    "REGION",
    "RENDER_CALLS",
    "RESOURCE_KINDS",
    "SAM_TRANSFORM",
    "STACK_NAME",
    "UNUSED_FEATURES",
    "VERSION",
    "Context",
    "LintFinding",
    "Need",
    "Report",
    "RoleRequest",
    "StackScope",
    "Statement",
    "Verdict",
    "action_matches",
    "boundary_condition",
    "boundary_policy",
    "check_scope",
    "cloudformation_needs",
    "compress_actions",
    "condition_holds",
    "decide",
    "evaluate",
    "format_report",
    "github_subject",
    "handler_kinds",
    "identity_document",
    "identity_policy",
    "lint_policy",
    "load_policy_file",
    "over_broad",
    "parse_statements",
    "permissions_data",
    "policy_size",
    "required",
    "resource_covers",
    "resource_overlaps",
    "role_policies",
    "trust_policy",
    "unused_feature",
    "user_policy",
    "validate_document",
    "validate_file",
]
