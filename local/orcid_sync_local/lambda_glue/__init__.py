"""Run the template's Lambda functions in-process, fed by a local HTTP API, SQS pollers, S3 and schedules.

Everything is read from the provisioned CloudFormation (the SAM transform's output): functions from
``AWS::Lambda::Function`` (Code, Handler, Environment, Timeout, MemorySize), routes from the OpenAPI
Body of ``AWS::ApiGatewayV2::Api``, SQS deliveries from ``AWS::Lambda::EventSourceMapping``, S3
notifications from the buckets' ``NotificationConfiguration`` and schedules from ``AWS::Events::Rule``
and ``AWS::Scheduler::Schedule``.

Each function is loaded once from its code directory + ``Handler`` (its cold start) and invoked with
the event shapes AWS sends: API Gateway HTTP API payload 2.0, SQS batches (with partial batch
failures), S3 notifications and EventBridge scheduled events.

Like a Lambda execution environment, a *container* handles one event at a time: handler modules
keep per-invocation state at module level (Powertools' ``BatchProcessor``, resolvers and the routers
included into them). A function has one container, so its invocations are serialised, unless one
of its SQS mappings sets ``ScalingConfig.MaximumConcurrency``: then it gets that many containers,
each a separate copy of the handler module (loaded on demand). Other modules (the function's
siblings, the ``orcid_sync`` library) are shared by the copies, as they are by the whole process;
keep per-invocation state in the handler module. Different functions always run concurrently.

The package follows those seams: ``functions`` (loading and invoking handlers), ``http_api`` (routes
and the gateway) with ``http_payload`` (payload 2.0 events and results, AWS_IAM), ``sqs``, ``s3``,
``schedules``, ``aws_calls`` (recording each function's AWS calls, for tests) and ``glue`` (all of them
for one provisioned stack).
"""

from .aws_calls import AwsCall, AwsCallRecorder, running_function
from .functions import FunctionSpec, LambdaContext, LocalFunction
from .glue import LambdaGlue
from .http_api import HttpApiGateway, HttpRoute, HttpRouter
from .http_payload import MAX_REQUEST_BYTES
from .s3 import ASYNC_ATTEMPTS, S3EventSource, S3Watcher
from .schedules import ScheduleFiring, ScheduleSource, ScheduleTarget, scheduled_event
from .shared import ActivityTracker, GlueError, LocalCredentials
from .sqs import SqsEventSource, SqsPoller
from .wsgi_server import WsgiServerThread

__all__ = [
    "ASYNC_ATTEMPTS",
    "MAX_REQUEST_BYTES",
    "ActivityTracker",
    "AwsCall",
    "AwsCallRecorder",
    "FunctionSpec",
    "GlueError",
    "HttpApiGateway",
    "HttpRoute",
    "HttpRouter",
    "LambdaContext",
    "LambdaGlue",
    "LocalCredentials",
    "LocalFunction",
    "S3EventSource",
    "S3Watcher",
    "ScheduleFiring",
    "ScheduleSource",
    "ScheduleTarget",
    "SqsEventSource",
    "SqsPoller",
    "WsgiServerThread",
    "running_function",
    "scheduled_event",
]
