package ui

import (
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// caseStep is a daily step taken from a case's page: it makes one call
// from the posted form (the case is `name`) and says what was done.
type caseStep func(h *Handler, c *caller, r *http.Request, name string) (done string, err error)

// caseSteps are the forms of a case's page, by the path they post to
// (/ui/proposals/{id}/{step}), each with the one call it makes. A form is
// shown to the accounts the access table lets make its call (caller.may);
// the server's access table and lifecycle decide whether it is allowed.
var caseSteps = map[string]struct {
	method string
	do     caseStep
}{
	"assign":  {banliv1.ProposalService_AssignProposal_FullMethodName, assignStep},
	"remind":  {banliv1.ProposalService_RecordReminder_FullMethodName, remindStep},
	"key":     {banliv1.ProposalService_MarkKey_FullMethodName, keyStep},
	"sign":    {banliv1.ProposalService_SignAssignment_FullMethodName, signStep},
	"consult": {banliv1.ProposalService_RecordConsultation_FullMethodName, consultStep},
	"draft":   {banliv1.ProposalService_SaveReplyDraft_FullMethodName, draftStep},
}

// step runs a case step and returns to the case, with its outcome shown
// once. Each form carries a request id, so a form posted twice (a double
// click, a reload) takes the step once.
func (h *Handler) step(do caseStep) func(w http.ResponseWriter, r *http.Request, c *caller) {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		name := "proposals/" + r.PathValue("id")
		if part := r.PostFormValue("assignment"); part != "" && !strings.HasPrefix(part, name+"/assignments/") {
			c.session.setFlash(&flash{Message: "表单所指的承办单位不属于本案，未办理。", Failed: true})
			http.Redirect(w, r, "/ui/"+name, http.StatusSeeOther)
			return
		}
		done, err := do(h, c, r, name)
		if err != nil {
			_, message, details := explain(err)
			c.session.setFlash(&flash{Message: message, Failed: true, Details: details})
		} else {
			c.session.setFlash(&flash{Message: done})
		}
		http.Redirect(w, r, "/ui/"+name, http.StatusSeeOther)
	}
}

func proposals(h *Handler) banliv1.ProposalServiceClient {
	return banliv1.NewProposalServiceClient(h.conn)
}

func assignStep(h *Handler, c *caller, r *http.Request, name string) (string, error) {
	role := banliv1.AssignmentRole(banliv1.AssignmentRole_value[r.PostFormValue("role")])
	_, err := proposals(h).AssignProposal(c.ctx, &banliv1.AssignProposalRequest{
		Name: name, RequestId: r.PostFormValue("request_id"),
		Assignments: []*banliv1.UnitAssignment{{Unit: r.PostFormValue("unit"), Role: role}},
	})
	return "已交办。", err
}

func remindStep(h *Handler, c *caller, r *http.Request, name string) (string, error) {
	_, err := proposals(h).RecordReminder(c.ctx, &banliv1.RecordReminderRequest{
		Name: name, Assignment: r.PostFormValue("assignment"), Message: r.PostFormValue("message"),
		RequestId: r.PostFormValue("request_id"),
	})
	return "已催办。", err
}

func keyStep(h *Handler, c *caller, r *http.Request, name string) (string, error) {
	key := r.PostFormValue("key") == "true"
	_, err := proposals(h).MarkKey(c.ctx, &banliv1.MarkKeyRequest{
		Name: name, Key: key, SupervisingLeader: r.PostFormValue("supervising_leader"), RequestId: r.PostFormValue("request_id"),
	})
	if !key {
		return "已取消重点件。", err
	}
	return "已列为重点件。", err
}

func signStep(h *Handler, c *caller, r *http.Request, _ string) (string, error) {
	_, err := proposals(h).SignAssignment(c.ctx, &banliv1.SignAssignmentRequest{
		Name: r.PostFormValue("assignment"), Department: r.PostFormValue("department"),
		ResponsiblePerson: r.PostFormValue("responsible_person"), ResponsiblePhone: r.PostFormValue("responsible_phone"),
		RequestId: r.PostFormValue("request_id"),
	})
	return "已签收。", err
}

func consultStep(h *Handler, c *caller, r *http.Request, _ string) (string, error) {
	consultation := &banliv1.Consultation{
		Phase:   banliv1.ConsultationPhase(banliv1.ConsultationPhase_value[r.PostFormValue("phase")]),
		Channel: banliv1.ConsultationChannel(banliv1.ConsultationChannel_value[r.PostFormValue("channel")]),
		Summary: r.PostFormValue("summary"),
	}
	for _, p := range strings.FieldsFunc(r.PostFormValue("participants"), func(r rune) bool { return r == '，' || r == ',' || r == '、' }) {
		consultation.Participants = append(consultation.Participants, strings.TrimSpace(p))
	}
	if day, err := time.ParseInLocation("2006-01-02", r.PostFormValue("date"), china); err == nil {
		consultation.Time = timestamppb.New(day.Add(9 * time.Hour))
	}
	_, err := proposals(h).RecordConsultation(c.ctx, &banliv1.RecordConsultationRequest{
		Name: r.PostFormValue("assignment"), Consultation: consultation, RequestId: r.PostFormValue("request_id"),
	})
	return "已记录沟通。", err
}

func draftStep(h *Handler, c *caller, r *http.Request, _ string) (string, error) {
	_, err := proposals(h).SaveReplyDraft(c.ctx, &banliv1.SaveReplyDraftRequest{
		Name: r.PostFormValue("assignment"), RequestId: r.PostFormValue("request_id"),
		Reply: &banliv1.Reply{
			Category: banliv1.ReplyCategory(banliv1.ReplyCategory_value[r.PostFormValue("category")]),
			Text:     r.PostFormValue("text"), Signer: r.PostFormValue("signer"),
			ContactPerson: r.PostFormValue("contact_person"), ContactPhone: r.PostFormValue("contact_phone"),
			DisclosureIntent: banliv1.DisclosureIntent(banliv1.DisclosureIntent_value[r.PostFormValue("disclosure_intent")]),
		},
	})
	return "答复草稿已保存。", err
}
