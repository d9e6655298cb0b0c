// Package cli holds the client commands: thin wrappers over the generated
// client for scripts (lifecycle.go), imports and exports of office
// spreadsheets (imports.go), and backups (backup.go). They reach the server
// through its API only.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/dial"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

const (
	roleLead  = banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD
	roleSplit = banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT
	roleCo    = banliv1.AssignmentRole_ASSIGNMENT_ROLE_CO_HANDLING
)

// LifecycleCommand runs one of the thin calls for scripts: get, list,
// assign, sign, reply and rate. Each prints the answer as JSON (the REST
// shapes) and exits 1 with the server's message on an error.
//
//	banli get proposals/7
//	banli list [-session S] [-unit U] [-state STATE] [-year Y] [-page-size N]
//	banli assign proposals/7 -lead units/1 [-co units/2,units/3] [-split …]
//	banli sign proposals/7/assignments/1 [-person 李明]
//	banli reply proposals/7/assignments/1 -category A -text FILE_OR_TEXT -signer 张局长 -contact 李明 -phone 0755-1
//	banli rate proposals/7/assignments/1/replies/1 -proposer 1 -satisfaction satisfied [-opinion …]
//
// LifecycleCommand runs one of get, list, assign, sign, reply and rate.
func LifecycleCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	output := fs.String("o", "json", "output: json (the REST shape) or table (a line per case: name, number, state, title)")
	var call func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error)
	switch cmd {
	case "get":
		call = func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error) {
			return banliv1.NewProposalServiceClient(c).GetProposal(ctx, &banliv1.GetProposalRequest{Name: name})
		}
	case "list":
		session := fs.String("session", "", "sessions/{id}")
		unit := fs.String("unit", "", "units/{id}")
		state := fs.String("state", "", "a case state, e.g. REPLIED")
		year := fs.Int("year", 0, "a year")
		size := fs.Int("page-size", 50, "cases a page")
		token := fs.String("page-token", "", "the next page's token")
		call = func(ctx context.Context, c *grpc.ClientConn, _ string) (proto.Message, error) {
			req := &banliv1.ListProposalsRequest{Session: *session, Unit: *unit, Year: int32(*year), PageSize: int32(*size), PageToken: *token}
			if *state != "" {
				req.State = banliv1.ProposalState(banliv1.ProposalState_value["PROPOSAL_STATE_"+strings.ToUpper(*state)])
			}
			return banliv1.NewProposalServiceClient(c).ListProposals(ctx, req)
		}
	case "assign":
		leadUnit := fs.String("lead", "", "the lead unit")
		split := fs.String("split", "", "split units, comma-separated")
		co := fs.String("co", "", "co-handling units, comma-separated")
		call = func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error) {
			req := &banliv1.AssignProposalRequest{Name: name}
			for _, list := range []struct {
				units string
				role  banliv1.AssignmentRole
			}{{*leadUnit, roleLead}, {*split, roleSplit}, {*co, roleCo}} {
				for _, u := range strings.Split(list.units, ",") {
					if u = strings.TrimSpace(u); u != "" {
						req.Assignments = append(req.Assignments, &banliv1.UnitAssignment{Unit: u, Role: list.role})
					}
				}
			}
			return banliv1.NewProposalServiceClient(c).AssignProposal(ctx, req)
		}
	case "sign":
		person := fs.String("person", "", "the person responsible")
		department := fs.String("department", "", "the department, units/{id}")
		call = func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error) {
			return banliv1.NewProposalServiceClient(c).SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: name, ResponsiblePerson: *person, Department: *department})
		}
	case "reply":
		category := fs.String("category", "", "A, B, C or D")
		text := fs.String("text", "", "the reply text")
		signer := fs.String("signer", "", "the unit head who signed it off")
		contact := fs.String("contact", "", "the contact person")
		phone := fs.String("phone", "", "the contact phone")
		disclosure := fs.String("disclosure", "full", "full, summary or none")
		call = func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error) {
			return banliv1.NewProposalServiceClient(c).SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: name, Reply: &banliv1.Reply{
				Category: banliv1.ReplyCategory(banliv1.ReplyCategory_value["REPLY_CATEGORY_"+strings.ToUpper(*category)]),
				Text:     *text, Signer: *signer, ContactPerson: *contact, ContactPhone: *phone,
				DisclosureIntent: banliv1.DisclosureIntent(banliv1.DisclosureIntent_value["DISCLOSURE_INTENT_"+strings.ToUpper(*disclosure)]),
			}})
		}
	case "rate":
		proposer := fs.Int("proposer", 1, "the rating proposer's id")
		satisfaction := fs.String("satisfaction", "", "satisfied, basically_satisfied or unsatisfied")
		opinion := fs.String("opinion", "", "the proposer's opinion")
		call = func(ctx context.Context, c *grpc.ClientConn, name string) (proto.Message, error) {
			return banliv1.NewProposalServiceClient(c).RateReply(ctx, &banliv1.RateReplyRequest{Name: name, ProposerId: int32(*proposer), Opinion: *opinion,
				Satisfaction: banliv1.Satisfaction(banliv1.Satisfaction_value["SATISFACTION_"+strings.ToUpper(*satisfaction)])})
		}
	}
	// The resource name and the flags, in either order.
	positional, err := dial.Parse(fs, args)
	if err != nil {
		return 2
	}
	if *output != "json" && *output != "table" {
		fmt.Fprintf(stderr, "banli %s: -o %s: want json or table\n", cmd, *output)
		return 2
	}
	name := ""
	switch {
	case cmd == "list" && len(positional) > 0:
		fmt.Fprintf(stderr, "banli list takes no name (%s): filter with -session, -unit, -state or -year\n", positional[0])
		return 2
	case cmd != "list" && len(positional) != 1:
		fmt.Fprintf(stderr, "usage: banli %s NAME [flags], e.g. banli %s proposals/7 (flags before or after the name)\n", cmd, cmd)
		return 2
	case cmd != "list":
		name = positional[0]
	}
	conn, err := client.Dial()
	if err != nil {
		fmt.Fprintln(stderr, "banli:", err)
		return 1
	}
	defer conn.Close()
	resp, err := call(context.Background(), conn, name)
	if err != nil {
		st := status.Convert(err)
		fmt.Fprintf(stderr, "banli %s: %s: %s\n", cmd, st.Code(), st.Message())
		return 1
	}
	if *output == "table" {
		writeTable(stdout, resp)
		return 0
	}
	out, _ := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(resp)
	fmt.Fprintln(stdout, string(out))
	return 0
}

// writeTable writes the cases of an answer (a list's, or the one case a
// step returns) a line each, in aligned columns, with the list's next
// page token last if there is one.
func writeTable(w io.Writer, resp proto.Message) {
	var cases []*banliv1.Proposal
	next := ""
	switch m := resp.(type) {
	case *banliv1.ListProposalsResponse:
		cases, next = m.GetProposals(), m.GetNextPageToken()
	case *banliv1.Proposal:
		cases = []*banliv1.Proposal{m}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNUMBER\tSTATE\tTITLE")
	for _, p := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.GetName(), p.GetNumber(), strings.TrimPrefix(p.GetState().String(), "PROPOSAL_STATE_"), p.GetTitle())
	}
	tw.Flush()
	if next != "" {
		fmt.Fprintln(w, "next page: -page-token", next)
	}
}
