// A small program against the TypeScript client generated from Banli's
// OpenAPI 3 document (openapi-typescript writes banli.d.ts, openapi-fetch
// is the client). scripts/contract/check type-checks it with tsc --strict:
// it compiles only if the document gives the paths their real parameter
// names, marks required and read-only fields as such, and types the
// error answers as google.rpc.Status. It is never run.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/banli";

type Proposal = components["schemas"]["v1Proposal"];
type Status = components["schemas"]["rpcStatus"];

const banli = createClient<paths>({
  baseUrl: "http://127.0.0.1:8080",
  headers: { Authorization: "Bearer KEY" },
});

export async function handleOneCase(): Promise<string> {
  // The submission platform sends a case in: the required fields must be
  // given, and the read-only ones (name, state) need not be.
  const created = await banli.POST("/v1/proposals", {
    body: {
      session: "sessions/1",
      kind: "PROPOSAL_KIND_CPPCC_PROPOSAL",
      number: "20210090",
      period: "SUBMISSION_PERIOD_DURING_MEETING",
      title: "关于加快数字政府建设的提案",
      content: "建议……",
      proposers: [{ type: "PROPOSER_TYPE_PERSON", displayName: "王委员" }],
    },
  });
  if (created.error) {
    const status: Status = created.error;
    return `refused: ${status.code} ${status.message}`;
  }
  const proposal: Proposal = created.data;
  // A required field is present in every answer.
  const title: string = proposal.title;

  // A custom method (:assign) with its path parameter named after the
  // resource.
  await banli.POST("/v1/proposals/{proposal}:assign", {
    params: { path: { proposal: "1" } },
    body: { assignments: [{ unit: "units/1", role: "ASSIGNMENT_ROLE_LEAD" }] },
  });

  // The reply is {reply}, not {replie}.
  const rated = await banli.POST("/v1/proposals/{proposal}/assignments/{assignment}/replies/{reply}:rate", {
    params: { path: { proposal: "1", assignment: "1", reply: "1" } },
    body: { proposerId: 1, satisfaction: "SATISFACTION_SATISFIED" },
  });
  if (rated.response.status === 429) {
    return `come back in ${rated.response.headers.get("Retry-After")} s`;
  }

  // A download is bytes, not JSON.
  const ledger = await banli.GET("/v1/ledger:export", {
    params: { query: { format: "EXPORT_FORMAT_CSV" } },
    parseAs: "blob",
  });
  const csv: Blob | undefined = ledger.data;

  // The session's policy is read-only where the server sets it, and an
  // enum takes only its values.
  await banli.POST("/v1/sessions", {
    body: {
      body: "BODY_CPPCC",
      level: "LEVEL_CITY",
      term: 7,
      meeting: 1,
      year: 2021,
      displayName: "市政协七届一次会议",
    },
  });
  await banli.POST("/v1/sessions", {
    // @ts-expect-error: "BODY_PARLIAMENT" is not a Body.
    body: { body: "BODY_PARLIAMENT", level: "LEVEL_CITY", term: 7, meeting: 1, year: 2021, displayName: "x" },
  });
  // @ts-expect-error: a case cannot be sent in without its title.
  await banli.POST("/v1/proposals", { body: { session: "sessions/1", kind: "PROPOSAL_KIND_CPPCC_PROPOSAL", number: "1", period: "SUBMISSION_PERIOD_DURING_MEETING", content: "x" } });

  return `${title}: ${csv?.size ?? 0} bytes of ledger`;
}
