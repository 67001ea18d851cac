"""A CDK app that deploys hfaction's render stack, with an alarm on failed renders.

    pip install "hfaction[cdk]"          # plus the CDK CLI: npm install -g aws-cdk
    cdk bootstrap                        # once per account and region (the image asset)
    cdk deploy                           # builds hfaction's render image, pushes it, deploys
    hfaction lambda render examples/gsap-intro --stack-name video --wait -o intro.mp4

Without ``-c image_uri``, the construct builds hfaction's render image as a Docker image
asset (Docker at deploy time; synthesis stages its build context with pip and the package
index): ``cdk deploy`` builds it for the function's architecture and pushes it into the
bootstrap's asset repository, hence ``cdk bootstrap`` once.

With an image already in ECR (``scripts/build-image.sh`` builds one), the stack has no
asset and needs no ``cdk bootstrap`` (the bootstrap version check is left out):

    cdk deploy -c image_uri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/video-render:0.1.0
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns

from hfaction.cdk import HfactionRenderStack


def build(app: cdk.App, image_uri: str | None = None) -> cdk.Stack:
    """The stack: with ``image_uri`` (an image in ECR) nothing to bootstrap; without, the
    render image is a Docker image asset of hfaction's own recipe."""
    synthesizer = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False) \
        if image_uri else None
    stack = cdk.Stack(app, "video", synthesizer=synthesizer)
    # Props are template.yaml's parameters; unset ones take its defaults.
    render = HfactionRenderStack(stack, "Render", image_uri=image_uri, project_name="video",
                                 concurrency=16)
    # The L2 interfaces: attach your own resources without re-deriving ARNs.
    topic = sns.Topic(stack, "RenderAlerts")
    failed = cloudwatch.Alarm(stack, "RendersFailed", threshold=1, evaluation_periods=1,
                              metric=render.state_machine.metric_failed())
    failed.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return stack


if __name__ == "__main__":
    app = cdk.App()
    image_uri = app.node.try_get_context("image_uri")
    build(app, str(image_uri) if image_uri else None)
    app.synth()
