"""The local stack is provisioned from template.yaml through the real SAM transform: every CloudFormation
resource type is covered, what moto holds matches what the template says (keys, indexes, TTL, redrive,
generated secrets, schedule states), the glue is wired from the transform's output, and the functions'
Powertools settings come from the template's Globals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from orcid_sync_local import sam_transform
from orcid_sync_local.lambda_glue import GlueError, LambdaGlue
from orcid_sync_local.provision import (
    GLUE_HANDLED,
    PROVISIONERS,
    ProvisionContext,
    ProvisionedStack,
    provision_stack,
    unsupported_resource_types,
)
from orcid_sync_local.resolution import dependency_order
from orcid_sync_local.sam_transform import local_code_path
from orcid_sync_local.template import (
    NO_VALUE,
    StackIdentity,
    Template,
    TemplateError,
    load_template,
)
from tests.support.template_env import function_environment, powertools_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_TEMPLATE = REPO_ROOT / "template.yaml"
LOCAL_PARAMETERS = {"OrcidClientId": "APP-LOCAL00000000001", "PortalBaseUrl": "http://127.0.0.1:8080/portal"}

# Everything the local stack has to get right, in one small template: the product's template may not
# (yet) have queues with a DLQ, alarms or SAM schedules, but the provisioning of them must still work.
FEATURES_TEMPLATE = textwrap.dedent(
    """
    AWSTemplateFormatVersion: "2010-09-09"
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage:
        Type: String
        AllowedValues: [dev, prod]
        Default: dev
      AlarmEmail:
        Type: String
        Default: ""
      Limit:
        Type: Number
        Default: 20
        MaxValue: 24
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, ""]]
    Mappings:
      Retention:
        dev: {Days: 1}
        prod: {Days: 30}
    Globals:
      Function:
        Runtime: python3.13
        Timeout: 30
        Layers: [!Ref Shared]
        Environment:
          Variables:
            TABLE: !Ref Items
            STAGE: !Ref Stage
    Resources:
      Shared:
        Type: AWS::Serverless::LayerVersion
        Properties: {ContentUri: layers/shared/}
      Items:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions:
            - {AttributeName: pk, AttributeType: S}
            - {AttributeName: sk, AttributeType: S}
            - {AttributeName: status, AttributeType: S}
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: sk, KeyType: RANGE}
          GlobalSecondaryIndexes:
            - IndexName: by-status
              KeySchema:
                - {AttributeName: status, KeyType: HASH}
                - {AttributeName: pk, KeyType: RANGE}
              Projection: {ProjectionType: KEYS_ONLY}
          TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
          PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      WorkQueue:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 180
          MessageRetentionPeriod: !FindInMap [Retention, !Ref Stage, Days]
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt WorkDlq.Arn
            maxReceiveCount: 5
      WorkDlq:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-work-dlq"
      ProdOnlyQueue:
        Type: AWS::SQS::Queue
        Condition: IsProd
      Secret:
        Type: AWS::SecretsManager::Secret
        Properties:
          GenerateSecretString:
            SecretStringTemplate: '{"client_secret": "SET-ME"}'
            GenerateStringKey: signing_key
            PasswordLength: 48
            ExcludePunctuation: true
      Alerts:
        Type: AWS::SNS::Topic
        Properties:
          TopicName: !Join ["-", [!Ref "AWS::StackName", alerts]]
      AlertsByEmail:
        Type: AWS::SNS::Subscription
        Condition: HasAlarmEmail
        Properties: {TopicArn: !Ref Alerts, Protocol: email, Endpoint: !Ref AlarmEmail}
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/worker/
          Handler: app.lambda_handler
          Timeout: !If [IsProd, 60, 45]
          Environment:
            Variables:
              QUEUE_URL: !Ref WorkQueue
              PROD_ONLY: !If [IsProd, "yes", !Ref "AWS::NoValue"]
              FIRST_AZ: !Select [0, !GetAZs ""]
              KEY_PREFIX: !Select [1, !Split ["/", "a/b/c"]]
          Events:
            Daily:
              Type: Schedule
              Properties: {Schedule: "cron(0 2 * * ? *)", Enabled: false}
            Hourly:
              Type: Schedule
              Properties: {Schedule: "rate(1 hour)"}
            Weekly:
              Type: ScheduleV2
              Properties: {ScheduleExpression: "rate(7 days)", State: DISABLED, Input: '{"weekly": true}'}
            Work:
              Type: SQS
              Properties: {Queue: !GetAtt WorkQueue.Arn, BatchSize: 10}
            Item:
              Type: HttpApi
              Properties: {Path: "/items/{id}", Method: GET}
            Arrivals:
              Type: S3
              Properties:
                Bucket: !Ref Inbox
                Events: [s3:ObjectCreated:*, s3:ObjectRemoved:*]
                Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}, {Name: suffix, Value: .csv}]}}
      Inbox:
        Type: AWS::S3::Bucket
      DlqAlarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          AlarmDescription: !Sub "Messages in ${WorkDlq.QueueName}"
          Namespace: AWS/SQS
          MetricName: ApproximateNumberOfMessagesVisible
          Dimensions: [{Name: QueueName, Value: !GetAtt WorkDlq.QueueName}]
          Statistic: Maximum
          Period: 60
          EvaluationPeriods: 1
          Threshold: 0
          ComparisonOperator: GreaterThanThreshold
          AlarmActions: [!Ref Alerts]
      Dashboard:
        Type: AWS::CloudWatch::Dashboard
        Properties:
          DashboardBody: !Sub '{"widgets": [{"type": "text", "properties": {"markdown": "${Worker}"}}]}'
    Outputs:
      QueueUrl:
        Value: !Ref WorkQueue
      Limit:
        Value: !Ref Limit
      ProdQueue:
        Condition: IsProd
        Value: !Ref ProdOnlyQueue
    """
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
        server._server.server_close()  # stop() leaves the listening socket open


@pytest.fixture(scope="module")
def context(moto_endpoint: str) -> ProvisionContext:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    return ProvisionContext(session, moto_endpoint, StackIdentity(), api_endpoint="http://127.0.0.1:9/api")


@pytest.fixture(scope="module")
def repo_stack(context: ProvisionContext) -> ProvisionedStack:
    return provision_stack(load_template(REPO_TEMPLATE), context, LOCAL_PARAMETERS)


@pytest.fixture(scope="module")
def features_stack(context: ProvisionContext, tmp_path_factory: pytest.TempPathFactory) -> ProvisionedStack:
    path = tmp_path_factory.mktemp("features") / "template.yaml"
    path.write_text(FEATURES_TEMPLATE)
    return provision_stack(load_template(path), context, {})


def _template(tmp_path: Path, text: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return load_template(path)


# --- every resource type is accounted for ---------------------------------------------------------


def test_every_resource_type_of_template_yaml_is_provisioned_or_handled_by_the_glue() -> None:
    template = load_template(REPO_TEMPLATE)

    assert unsupported_resource_types(template) == set(), (
        "add a provisioner to orcid_sync_local.provision.PROVISIONERS (or glue support and GLUE_HANDLED)"
    )


def test_provisioned_and_glue_handled_types_do_not_overlap() -> None:
    assert set(PROVISIONERS).isdisjoint(GLUE_HANDLED)


def test_the_stack_is_the_cloudformation_the_sam_transform_makes() -> None:
    # Given template.yaml, a SAM template
    template = load_template(REPO_TEMPLATE)

    # When it is read for provisioning
    types = template.resource_types()

    # Then what gets created is plain CloudFormation, SAM's implicit resources included
    assert template.is_sam
    assert not [name for name in types if name.startswith("AWS::Serverless::")]
    assert {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::Lambda::EventSourceMapping",
        "AWS::ApiGatewayV2::Api",
    } <= types
    assert not [name for name in [*PROVISIONERS, *GLUE_HANDLED] if name.startswith("AWS::Serverless::")]


def test_sam_resource_types_without_the_sam_transform_are_refused(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.13}
        """,
    )

    assert unsupported_resource_types(template) == {"AWS::Serverless::Function"}


def test_the_sam_transforms_own_errors_are_reported(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Runtime: python3.13
              Events:
                Odd: {Type: Carrier, Properties: {}}
        """,
    )

    with pytest.raises(TemplateError, match=r"the SAM transform refused the template: .*Fn"):
        template.transformed()


def test_the_transform_runs_once_per_file_version_and_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a SAM template, and the translator counted
    path = tmp_path / "template.yaml"
    path.write_text(FEATURES_TEMPLATE)
    calls: list[dict[str, Any]] = []
    translate = sam_transform._translate

    def counted(body: Any, parameters: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(parameters)
        return translate(body, parameters, **kwargs)

    monkeypatch.setattr(sam_transform, "_translate", counted)

    # When it is transformed twice alike, then with other parameters, then after an edit
    first = load_template(path).transformed({"Stage": "dev"})
    again = load_template(path).transformed({"Stage": "dev"})
    first.body["Resources"].clear()
    load_template(path).transformed({"Stage": "prod"})
    path.write_text(FEATURES_TEMPLATE.replace("VisibilityTimeout: 180", "VisibilityTimeout: 240"))
    edited = load_template(path).transformed({"Stage": "prod"})

    # Then the translator ran once per (file version, parameters), and each caller got its own copy
    assert [call["Stage"] for call in calls] == ["dev", "prod", "prod"]
    assert again.body["Resources"]["Worker"]["Type"] == "AWS::Lambda::Function"
    assert edited.body["Resources"]["WorkQueue"]["Properties"]["VisibilityTimeout"] == 240


def test_local_code_directories_survive_the_transform(tmp_path: Path) -> None:
    # Given a function and a layer whose code sits in local directories (one relative with a space, one absolute)
    layer_dir = tmp_path / "shared layer"
    template = _template(
        tmp_path,
        f"""
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Lib:
            Type: AWS::Serverless::LayerVersion
            Properties: {{ContentUri: "{layer_dir}"}}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: "my functions/fn/", Handler: app.handler, Runtime: python3.13, Layers: [!Ref Lib]}}
        """,
    )

    # When the SAM transform has turned them into Code and Content
    resources = template.transformed().declared_resources
    (layer,) = [res for res in resources.values() if res["Type"] == "AWS::Lambda::LayerVersion"]

    # Then the directories are read back unchanged
    assert local_code_path(template.root, resources["Fn"]["Properties"]["Code"]) == tmp_path / "my functions" / "fn"
    assert local_code_path(template.root, layer["Properties"]["Content"]) == layer_dir
    assert local_code_path(template.root, {"S3Bucket": "someone-elses", "S3Key": "fn.zip"}) is None


def test_a_resource_type_the_local_stack_cannot_create_is_refused(tmp_path: Path, context: ProvisionContext) -> None:
    template = _template(
        tmp_path,
        """
        Resources:
          Network:
            Type: AWS::EC2::VPC
            Properties: {CidrBlock: 10.0.0.0/16}
        """,
    )

    assert unsupported_resource_types(template) == {"AWS::EC2::VPC"}
    with pytest.raises(TemplateError, match=r"AWS::EC2::VPC"):
        provision_stack(template, context, {})


# --- template.yaml as provisioned -------------------------------------------------------------------


def test_tables_have_the_keys_indexes_ttl_and_billing_of_the_template(
    repo_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    dynamodb = context.client("dynamodb")
    declared = {
        logical_id: resource["Properties"]
        for logical_id, resource in load_template(REPO_TEMPLATE).resources.items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }
    assert declared, "template.yaml has no tables?"
    for logical_id, props in declared.items():
        name = repo_stack.physical(logical_id).ref
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"], logical_id
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
        assert table["BillingModeSummary"]["BillingMode"] == props["BillingMode"]
        indexes = {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in props.get("GlobalSecondaryIndexes", [])
        }, logical_id
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["TimeToLiveStatus"] == "ENABLED", logical_id
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED", logical_id


def test_the_orcid_secret_holds_a_generated_signing_key(
    repo_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    secret = load_template(REPO_TEMPLATE).resources["OrcidSecret"]["Properties"]["GenerateSecretString"]
    arn = repo_stack.physical("OrcidSecret").ref

    document = json.loads(context.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])

    assert set(document) == set(json.loads(secret["SecretStringTemplate"])) | {secret["GenerateStringKey"]}
    assert len(document[secret["GenerateStringKey"]]) == secret["PasswordLength"]
    assert document[secret["GenerateStringKey"]].isalnum()


def test_queues_of_template_yaml_carry_their_redrive_policies(
    repo_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    sqs = context.client("sqs")
    for logical_id, resource in load_template(REPO_TEMPLATE).resources.items():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=repo_stack.physical(logical_id).ref, AttributeNames=["All"])
        declared = repo_stack.properties[logical_id]
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in declared:
                assert attributes["Attributes"][key] == str(declared[key]), (logical_id, key)
        if "RedrivePolicy" in declared:
            redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == declared["RedrivePolicy"]["deadLetterTargetArn"]
            assert int(redrive["maxReceiveCount"]) == int(declared["RedrivePolicy"]["maxReceiveCount"])


def test_rules_of_template_yaml_have_the_declared_state(
    repo_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    events = context.client("events")
    for logical_id in repo_stack.of_type("AWS::Events::Rule"):
        declared = repo_stack.properties[logical_id]
        rule = events.describe_rule(Name=repo_stack.physical(logical_id).ref)
        assert rule["State"] == declared.get("State", "ENABLED"), logical_id
        assert rule.get("ScheduleExpression") == declared.get("ScheduleExpression"), logical_id


def test_outputs_of_template_yaml_resolve_to_local_resources(repo_stack: ProvisionedStack) -> None:
    outputs = repo_stack.outputs()

    assert outputs["ResearchersTableName"] == repo_stack.physical("ResearchersTable").ref
    assert outputs["TokenKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


# --- the features template ----------------------------------------------------------------------


def test_a_queue_redrive_policy_points_at_its_dead_letter_queue(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    sqs = context.client("sqs")
    url = features_stack.physical("WorkQueue").ref

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": features_stack.physical("WorkDlq").get_att("Arn"),
        "maxReceiveCount": 5,
    }
    assert attributes["VisibilityTimeout"] == "180"
    assert attributes["MessageRetentionPeriod"] == "1"
    assert features_stack.physical("WorkDlq").get_att("QueueName") == "orcid-sync-local-work-dlq"


def test_queue_and_alarm_arns_are_those_the_services_report(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    for logical_id in features_stack.of_type("AWS::SQS::Queue"):
        queue = features_stack.physical(logical_id)
        attributes = context.client("sqs").get_queue_attributes(QueueUrl=queue.ref, AttributeNames=["QueueArn"])
        assert attributes["Attributes"]["QueueArn"] == queue.get_att("Arn"), logical_id
    alarm = features_stack.physical("DlqAlarm")
    (described,) = context.client("cloudwatch").describe_alarms(AlarmNames=[alarm.ref])["MetricAlarms"]
    assert described["AlarmArn"] == alarm.get_att("Arn")


def test_generated_names_follow_cloudformation(features_stack: ProvisionedStack) -> None:
    assert features_stack.physical("Items").ref.startswith("orcid-sync-local-Items-")
    assert "/orcid-sync-local-WorkQueue-" in features_stack.physical("WorkQueue").ref
    assert features_stack.physical("Alerts").ref.endswith(":orcid-sync-local-alerts")


def test_a_table_gets_its_index_ttl_and_point_in_time_recovery(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    dynamodb = context.client("dynamodb")
    name = features_stack.physical("Items").ref

    (index,) = dynamodb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]

    assert (index["IndexName"], index["Projection"]) == ("by-status", {"ProjectionType": "KEYS_ONLY"})
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_generated_secret_honours_length_and_character_rules(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    arn = features_stack.physical("Secret").ref

    document = json.loads(context.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])

    assert document["client_secret"] == "SET-ME"
    assert len(document["signing_key"]) == 48
    assert document["signing_key"].isalnum()


def test_sam_schedule_events_become_rules_with_their_enabled_state(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    events = context.client("events")
    worker_arn = features_stack.physical("Worker").get_att("Arn")

    daily = events.describe_rule(Name=features_stack.physical("WorkerDaily").ref)
    hourly = events.describe_rule(Name=features_stack.physical("WorkerHourly").ref)
    (target,) = events.list_targets_by_rule(Rule=daily["Name"])["Targets"]

    assert (daily["State"], daily["ScheduleExpression"]) == ("DISABLED", "cron(0 2 * * ? *)")
    assert hourly["State"] == "ENABLED"
    assert target == {"Id": "WorkerDailyLambdaTarget", "Arn": worker_arn}


def test_sam_schedule_v2_events_become_scheduler_schedules(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    schedule = context.client("scheduler").get_schedule(Name=features_stack.physical("WorkerWeekly").ref)

    assert (schedule["State"], schedule["ScheduleExpression"]) == ("DISABLED", "rate(7 days)")
    assert schedule["Target"]["Arn"] == features_stack.physical("Worker").get_att("Arn")
    assert json.loads(schedule["Target"]["Input"]) == {"weekly": True}


def test_globals_conditions_and_intrinsics_resolve_into_function_properties(features_stack: ProvisionedStack) -> None:
    worker = features_stack.properties["Worker"]
    (layer_id,) = features_stack.of_type("AWS::Lambda::LayerVersion")
    work = features_stack.properties["WorkerWork"]

    assert features_stack.physical("Worker").resource_type == "AWS::Lambda::Function"
    assert worker["Environment"]["Variables"] == {
        "TABLE": features_stack.physical("Items").ref,
        "STAGE": "dev",
        "QUEUE_URL": features_stack.physical("WorkQueue").ref,
        "FIRST_AZ": "us-east-1a",
        "KEY_PREFIX": "b",
    }  # PROD_ONLY resolved to AWS::NoValue and is gone
    assert worker["Timeout"] == 45
    assert layer_id.startswith("Shared")  # SAM names a layer version after its content
    assert worker["Layers"] == [features_stack.physical(layer_id).ref]
    assert work["EventSourceArn"] == features_stack.physical("WorkQueue").get_att("Arn")
    assert work["FunctionName"] == features_stack.physical("Worker").ref


def test_the_glue_is_wired_from_the_transformed_template(features_stack: ProvisionedStack) -> None:
    # When the glue reads the provisioned CloudFormation (nothing is loaded yet)
    glue = LambdaGlue.from_stack(features_stack, REPO_ROOT)

    # Then the function, its route, its queue, its bucket notifications and its schedules are all there
    worker = glue.functions["Worker"]
    assert (worker.spec.code_dir, worker.spec.timeout_seconds, worker.spec.memory_mb) == (
        features_stack.template.root / "functions" / "worker",
        45,
        128,
    )
    ((route),) = glue.routes
    assert (route.method, route.path, route.iam, route.stage) == ("GET", "/items/{id}", False, "$default")
    assert route.api_id == features_stack.physical("ServerlessHttpApi").ref
    assert route.function is worker
    ((queue),) = glue.sqs_sources
    assert (queue.name, queue.batch_size, queue.function) == ("WorkerWork", 10, worker)
    assert queue.queue_arn == features_stack.physical("WorkQueue").get_att("Arn")
    ((bucket),) = glue.s3_sources
    assert (bucket.bucket, bucket.function, bucket.prefix, bucket.suffix) == (
        features_stack.physical("Inbox").ref,
        worker,
        "in/",
        ".csv",
    )
    assert bucket.wants("ObjectCreated:Put") and bucket.wants("ObjectRemoved:Delete")
    assert {source.logical_id for source in glue.schedules} == {"WorkerDaily", "WorkerHourly", "WorkerWeekly"}
    assert glue.environment() == features_stack.properties["Worker"]["Environment"]["Variables"]


def test_routes_behind_an_authorizer_the_glue_cannot_check_are_refused(
    tmp_path: Path, context: ProvisionContext
) -> None:
    template = _template(
        tmp_path,
        """
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Api:
            Type: AWS::Serverless::HttpApi
            Properties:
              Auth:
                DefaultAuthorizer: Tokens
                Authorizers:
                  Tokens:
                    IdentitySource: $request.header.Authorization
                    JwtConfiguration: {issuer: "https://issuer.example.org", audience: [orcid-sync]}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Runtime: python3.13
              Events:
                Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /things, Method: GET}}
        """,
    )
    stack = provision_stack(template, context, {})

    with pytest.raises(GlueError, match=r"GET /things: authorizer Tokens is not supported locally"):
        LambdaGlue.from_stack(stack, REPO_ROOT)


def test_function_roles_carry_the_expanded_policy_templates(repo_stack: ProvisionedStack) -> None:
    # Given AdminApiFunction's `DynamoDBCrudPolicy: {TableName: !Ref ResearchersTable}`
    table_arn = repo_stack.physical("ResearchersTable").get_att("Arn")
    role = repo_stack.properties["AdminApiFunctionRole"]

    # When SAM has expanded it into the function's role
    statements = [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]
    on_table = [statement for statement in statements if table_arn in json.dumps(statement.get("Resource"))]

    # Then the role allows CRUD on that table, as it will on AWS
    assert any({"dynamodb:PutItem", "dynamodb:DeleteItem"} <= set(statement["Action"]) for statement in on_table)
    assert repo_stack.properties["AdminApiFunction"]["Role"] == repo_stack.physical("AdminApiFunctionRole").get_att(
        "Arn"
    )


def test_resources_whose_condition_is_false_are_not_created(features_stack: ProvisionedStack) -> None:
    assert "ProdOnlyQueue" not in features_stack.resources
    assert "AlertsByEmail" not in features_stack.resources
    assert "ProdQueue" not in features_stack.outputs()
    assert features_stack.outputs()["Limit"] == "20"


def test_alarms_and_dashboards_are_created_with_resolved_references(
    features_stack: ProvisionedStack, context: ProvisionContext
) -> None:
    cloudwatch = context.client("cloudwatch")
    dlq_name = features_stack.physical("WorkDlq").get_att("QueueName")

    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[features_stack.physical("DlqAlarm").ref])["MetricAlarms"]
    dashboard = cloudwatch.get_dashboard(DashboardName=features_stack.physical("Dashboard").ref)

    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq_name}]
    assert alarm["AlarmDescription"] == f"Messages in {dlq_name}"
    assert alarm["AlarmActions"] == [features_stack.physical("Alerts").ref]
    body = json.loads(dashboard["DashboardBody"])
    assert body["widgets"][0]["properties"]["markdown"] == features_stack.physical("Worker").ref


# --- reading templates -------------------------------------------------------------------------


def test_short_form_tags_become_long_form_intrinsics(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
        Resources:
          Thing:
            Type: AWS::SQS::Queue
            Properties:
              A: !GetAtt Other.Arn
              B: !Sub "${AWS::Region}-x"
              C: !If [Cond, !Ref P, !Ref "AWS::NoValue"]
              D: 2012-10-17
        """,
    )

    props = template.declared_resources["Thing"]["Properties"]

    assert props["A"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["B"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert props["C"] == {"Fn::If": ["Cond", {"Ref": "P"}, {"Ref": "AWS::NoValue"}]}
    assert props["D"] == "2012-10-17"  # CloudFormation reads it as a string, not a date


def test_parameters_are_validated_like_cloudformation(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        """
        Parameters:
          ClientId: {Type: String, AllowedPattern: "^APP-[0-9A-Z]{16}$"}
          Rate: {Type: Number, Default: 20, MaxValue: 24}
        Resources: {}
        """,
    )

    assert template.parameter_values({"ClientId": "APP-0000000000000001"}) == {
        "ClientId": "APP-0000000000000001",
        "Rate": "20",
    }
    with pytest.raises(TemplateError, match="ClientId: no value"):
        template.parameter_values({})
    with pytest.raises(TemplateError, match="does not match"):
        template.parameter_values({"ClientId": "APP-x"})
    with pytest.raises(TemplateError, match="above MaxValue"):
        template.parameter_values({"ClientId": "APP-0000000000000001", "Rate": "25"})
    with pytest.raises(TemplateError, match="unknown parameters: Nope"):
        template.parameter_values({"ClientId": "APP-0000000000000001", "Nope": "1"})


def test_resources_are_ordered_after_what_they_refer_to() -> None:
    resources: dict[str, Any] = {
        "Alarm": {"Type": "T", "Properties": {"Topic": {"Fn::Sub": "${Topic}-${Queue.Arn}"}}},
        "Queue": {"Type": "T", "Properties": {"Dlq": {"Fn::GetAtt": ["Dlq", "Arn"]}}},
        "Topic": {"Type": "T", "DependsOn": "Dlq"},
        "Dlq": {"Type": "T"},
    }

    order = dependency_order(resources)

    assert order.index("Dlq") < order.index("Queue") < order.index("Alarm")
    assert order.index("Dlq") < order.index("Topic") < order.index("Alarm")


def test_circular_references_are_reported() -> None:
    resources = {"A": {"Type": "T", "Properties": {"X": {"Ref": "B"}}}, "B": {"Type": "T", "DependsOn": ["A"]}}

    with pytest.raises(TemplateError, match="circular references between resources: A, B"):
        dependency_order(resources)


def test_no_value_is_a_single_sentinel() -> None:
    assert repr(NO_VALUE) == "AWS::NoValue"


# --- the functions' Powertools settings come from the template -------------------------------------

_FLUSH_A_METRIC = """
from aws_lambda_powertools.metrics import MetricUnit
from orcid_sync.observability import metrics
metrics.add_metric(name="Probe", unit=MetricUnit.Count, value=1)
metrics.flush_metrics()
"""


def _flush_a_metric_with(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A new interpreter with only ``environment`` (and PATH/HOME) imports the product and flushes a metric."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-c", _FLUSH_A_METRIC],
        env=clean | environment | {"POWERTOOLS_TRACE_DISABLED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_functions_powertools_settings_are_the_globals_and_the_tests_use_them() -> None:
    declared = load_template(REPO_TEMPLATE).body["Globals"]["Function"]["Environment"]["Variables"]

    settings = powertools_environment()

    assert settings == {name: str(value) for name, value in declared.items() if name.startswith("POWERTOOLS_")}
    assert settings["POWERTOOLS_METRICS_NAMESPACE"] == "OrcidSync"
    assert {name: os.environ.get(name) for name in settings} == settings  # applied by tests/conftest.py
    result = _flush_a_metric_with(settings)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OrcidSync"


def test_without_a_metrics_namespace_in_globals_a_handler_cannot_flush_its_metrics(tmp_path: Path) -> None:
    # Given a copy of template.yaml whose Globals lack POWERTOOLS_METRICS_NAMESPACE
    body = dict(load_template(REPO_TEMPLATE).body)
    variables = body["Globals"]["Function"]["Environment"]["Variables"]
    del variables["POWERTOOLS_METRICS_NAMESPACE"]
    copy = tmp_path / "template.yaml"
    copy.write_text(json.dumps(body))

    # When the tests (and the local stack) take the functions' settings from it
    settings = powertools_environment(copy)
    connect = function_environment("ConnectFunction", template=copy)

    # Then the namespace is missing, and the product fails to flush a metric, as the deployed function would
    assert "POWERTOOLS_METRICS_NAMESPACE" not in settings
    assert "POWERTOOLS_METRICS_NAMESPACE" not in connect
    assert settings["POWERTOOLS_SERVICE_NAME"] == "orcid-sync"
    result = _flush_a_metric_with(settings)
    assert result.returncode != 0
    assert "Must contain a metric namespace" in result.stderr
