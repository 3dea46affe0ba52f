// Runs one execution of a state machine definition with aws-local-stepfunctions (a real ASL
// interpreter) and prints its outcome as one JSON line. Read from stdin:
//   {"definition": {...}, "input": {...}, "lambda": "http://127.0.0.1:<port>", "retryMs": {...}}
// Every `arn:aws:states:::lambda:invoke` Task is routed to the Lambda Invoke API at `lambda`
// (local/lambda_bridge.py in front of the real handler) the way Step Functions' integration does it:
// Parameters.Payload is the event, the result is {"Payload": <the function's answer>, ...}, and a
// function error fails the state with the function's errorType as the error name.
// retryMs scales Retry pauses down (milliseconds per state); the Retry fields themselves still
// decide what is retried and how often.
import { StateMachine } from "aws-local-stepfunctions";

const LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke";
const INVOKE_TIMEOUT_MS = 30000;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function lambdaInvoke(baseUrl) {
  return async (parameters) => {
    const url = `${baseUrl}/2015-03-31/functions/${encodeURIComponent(parameters.FunctionName)}/invocations`;
    const response = await fetch(url, {
      method: "POST",
      body: JSON.stringify(parameters.Payload ?? {}),
      signal: AbortSignal.timeout(INVOKE_TIMEOUT_MS),
    });
    const body = await response.json();
    if (response.status !== 200) {
      const error = new Error(JSON.stringify(body));
      error.name = "Lambda.ServiceException";
      throw error;
    }
    if (response.headers.get("x-amz-function-error")) {
      // Step Functions: Error is the errorType, Cause the function's error document as a string.
      const error = new Error(JSON.stringify(body));
      error.name = body.errorType;
      throw error;
    }
    return { ExecutedVersion: "$LATEST", Payload: body, StatusCode: 200 };
  };
}

const request = await readStdin();
const tasks = Object.entries(request.definition.States)
  .filter(([, state]) => state.Type === "Task" && state.Resource === LAMBDA_INVOKE)
  .map(([name]) => name);
const machine = new StateMachine(request.definition);
const execution = machine.run(request.input, {
  overrides: {
    taskResourceLocalHandlers: Object.fromEntries(tasks.map((name) => [name, lambdaInvoke(request.lambda)])),
    retryIntervalOverrides: request.retryMs ?? {},
  },
});
const events = [];
const logging = (async () => {
  for await (const event of execution.eventLogs) {
    events.push({ type: event.type, state: event.state?.name ?? null, error: event.Error ?? null });
  }
})();
let outcome;
try {
  outcome = { status: "SUCCEEDED", output: await execution.result };
} catch (failure) {
  const error = failure.cause ?? failure;
  outcome = { status: "FAILED", error: error.name, cause: error.message };
}
await logging;
process.stdout.write(JSON.stringify({ ...outcome, events }) + "\n");
