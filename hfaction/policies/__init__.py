"""The IAM policies deploying and rendering need, and a check of a policy kept by the user.

Everything here is a pure function over dicts, except the two readers at the edge
(:func:`load_policy_file` and :func:`lint_policy`, which runs parliament).

What is required comes from three sources, never from a guess:

- what CloudFormation calls for each resource type of the stack: the handler permissions
  (create, read, update, delete) in the resource type schemas that cfn-lint bundles,
  generated into ``hfaction/aws/permissions.json`` by ``scripts/gen-permissions.py`` (after
  the SAM transform, so the real types); features of a type the template does not use
  are dropped in :data:`UNUSED_FEATURES`, each with its reason;
- what ``sam deploy`` calls itself (samcli/lib/deploy/deployer.py) and what hfaction's
  image build and push need (:data:`DEPLOY_CALLS`);
- what hfaction calls through :mod:`hfaction.aws.facade` to render (:data:`RENDER_CALLS`).

tests/integration/aws/test_policy_coverage.py records every call a moto run of deploy and
render makes and checks that the printed policy allows each one.

What the deploy part grants is powerful, by nature: CloudFormation creates the stack's
roles with the deployer's credentials, so the policy allows creating, changing and deleting
any role named ``role/STACK-*`` (STACK the stack name) and attaching or writing any policy
to it. It has no ``iam:PermissionsBoundary`` condition (template.yaml sets no boundary on
its roles, so one would refuse the deploy): whoever holds the deploy part can make a
``STACK-*`` role with any permissions in the account. ``iam:PassRole`` is narrower: only
those roles, and only to Lambda and Step Functions (``iam:PassedToService``). Give the
deploy part to deploy jobs only; a render-only job needs ``--part render``, which has no
IAM action.

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
    github_subject,
    identity_policy,
    role_policies,
    trust_policy,
    user_policy,
)
from hfaction.policies.evaluate import (
    Statement,
    Verdict,
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
    DEPLOY_CALLS,
    NO_PERMISSION_NEEDED,
    PARTS,
    PASS_ROLE_CONDITION,
    REGION,
    RENDER_CALLS,
    RESOURCE_KINDS,
    SAM_TRANSFORM,
    STACK_NAME,
    UNUSED_FEATURES,
    Need,
    StackScope,
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
    "DEPLOY_CALLS",
    "GITHUB_AUDIENCE",
    "GITHUB_OIDC_HOST",
    "MANAGED_POLICY_LIMIT",
    "NO_PERMISSION_NEEDED",
    "PARTS",
    "PASS_ROLE_CONDITION",
    "READ_VERBS",
    "REGION",
    "RENDER_CALLS",
    "RESOURCE_KINDS",
    "SAM_TRANSFORM",
    "STACK_NAME",
    "UNUSED_FEATURES",
    "VERSION",
    "LintFinding",
    "Need",
    "Report",
    "RoleRequest",
    "StackScope",
    "Statement",
    "Verdict",
    "action_matches",
    "check_scope",
    "cloudformation_needs",
    "compress_actions",
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
