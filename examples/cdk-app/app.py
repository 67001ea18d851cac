"""A CDK app that deploys hfaction's render stack, with an alarm on failed renders.

    pip install "hfaction[cdk]"          # plus the CDK CLI: npm install -g aws-cdk
    cdk deploy -c image_uri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/video-render:0.1.0
    hfaction lambda render examples/gsap-intro --stack-name video --wait -o intro.mp4

The image is hfaction's render image, pushed to ECR (``scripts/build-image.sh`` builds
it). The stack needs no ``cdk bootstrap``: it has no assets, and the bootstrap version
check is left out.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns

from hfaction.cdk import HfactionRenderStack


def build(app: cdk.App, image_uri: str) -> cdk.Stack:
    stack = cdk.Stack(app, "video", synthesizer=cdk.DefaultStackSynthesizer(
        generate_bootstrap_version_rule=False))
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
    if not image_uri:
        raise SystemExit("give the render image: cdk deploy -c image_uri=ECR_IMAGE_URI")
    build(app, str(image_uri))
    app.synth()
