"""hfaction on AWS: the Lambda handler, S3 transport, the AWS facade and cost accounting."""
