package service

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// protoTextLimits is, for every field whose comment in proto/ says "at
// most N characters", the validator's constant for it. The contract states
// a limit once, in words; this table ties the words to the code, so that
// neither drifts from the other: TestProtoLimitsMatchTheValidator fails
// when a comment's number is not its constant's, when a commented limit
// has no row here, or when a row no longer has a comment.
var protoTextLimits = map[string]int{
	"Account.display_name": maxNameLen, "Account.certificate_common_name": maxCommonNameLen,
	"CalendarDay.holiday":   maxHolidayNameLen,
	"Proposer.display_name": maxNameLen, "Proposer.affiliation": maxNameLen, "Proposer.phone": maxPhoneLen,
	"Proposer.email": maxEmailLen, "Proposer.address": maxAddressLen,
	"Attachment.file_name": maxNameLen, "Attachment.media_type": maxMediaTypeLen, "Attachment.uri": maxURILen,
	"Proposal.serial": maxNumberLen, "Proposal.title": maxTitleLen, "Proposal.content": maxContentLen, "Proposal.topics": maxTopicLen,
	"Refusal.note": maxNoteLen, "Assignment.responsible_person": maxPersonLen, "FollowUpReport.text": maxReplyLen,
	"ExtensionRequest.reason": maxNoteLen, "Reminder.message": maxNoteLen, "ReassignmentRequest.reason": maxNoteLen,
	"Consultation.participants": maxPersonLen, "Consultation.summary": maxSummaryLen,
	"Opinion.text": maxReplyLen, "Opinion.signer": maxPersonLen, "Opinion.contact_person": maxPersonLen,
	"Rating.opinion": maxSummaryLen, "Reply.text": maxReplyLen, "Reply.document_number": maxDocumentNumLen,
	"Reply.signer": maxPersonLen, "Reply.contact_person": maxPersonLen,
	"SignAssignmentRequest.responsible_person": maxPersonLen, "RequestReassignmentRequest.reason": maxNoteLen,
	"DecideReassignmentRequest.note": maxNoteLen, "ListUnitsRequest.name_contains": maxNameLen, "RequestExtensionRequest.reason": maxNoteLen, "UpdateProposalRequest.reason": maxNoteLen, "RemoveAssignmentRequest.reason": maxNoteLen, "ChangeAssignmentRoleRequest.reason": maxNoteLen, "MergeUnitRequest.reason": maxNoteLen,
	"DecideExtensionRequest.note": maxNoteLen, "ReportFollowUpRequest.text": maxReplyLen, "CloseFollowUpRequest.note": maxNoteLen,
	"RecordReminderRequest.message": maxNoteLen, "RateReplyRequest.opinion": maxSummaryLen,
	"PublishReplyRequest.published_text": maxReplyLen, "WithholdReplyRequest.reason": maxNoteLen,
	"PreviewPublicationRequest.published_text": maxReplyLen, "CorrectPublicationRequest.published_text": maxReplyLen,
	"RegionalCalendar.display_name": maxNameLen, "CorrectPublicationRequest.reason": maxNoteLen, "ReviewPublicationRequest.reason": maxNoteLen, "WithdrawPublicationRequest.reason": maxNoteLen,
	"CorrectReplyCategoryRequest.reason": maxNoteLen,
	"Webhook.display_name":               maxNameLen, "Webhook.url": maxWebhookURLLen,
	"DelegateAssignmentRequest.reason": maxNoteLen, "DelegateAssignmentRequest.responsible_person": maxPersonLen,
	"RecordDeliveryRequest.note": maxNoteLen, "Delivery.note": maxNoteLen,
	"ReturnReplyDraftRequest.comment": maxNoteLen, "ReplyDraft.return_comment": maxNoteLen,
	"OfficeReview.reason": maxNoteLen, "SupervisionActivity.summary": maxSummaryLen, "SupervisionActivity.leader": maxPersonLen, "SupervisionActivity.participants": maxPersonLen, "UnsatisfiedVetting.reason": maxNoteLen, "DecideUnsatisfiedRequest.reason": maxNoteLen, "ReviewReplyRequest.reason": maxNoteLen,
	"CollectiveReview.conclusion": maxNoteLen, "Countersign.comment": maxNoteLen, "CountersignReplyRequest.comment": maxNoteLen, "CollectiveReview.participants": maxPersonLen,
	"RefuseFilingRequest.note": maxNoteLen, "WithdrawProposalRequest.reason": maxNoteLen,
	"MarkKeyRequest.supervising_leader": maxPersonLen, "Session.display_name": maxNameLen,
	"Contact.display_name": maxPersonLen, "Contact.title": maxPersonLen, "Contact.phone": maxPhoneLen,
	"Contact.email": maxEmailLen, "Unit.display_name": maxNameLen, "Leader.display_name": maxPersonLen, "Leader.title": maxPersonLen,
}

func TestProtoLimitsMatchTheValidator(t *testing.T) {
	stated := protoCharacterLimits(t)
	for field, n := range stated {
		want, ok := protoTextLimits[field]
		switch {
		case !ok:
			t.Errorf("%s says at most %d characters, but protoTextLimits has no constant for it", field, n)
		case n != want:
			t.Errorf("%s says at most %d characters; the validator's constant is %d", field, n, want)
		}
	}
	for field := range protoTextLimits {
		if _, ok := stated[field]; !ok {
			t.Errorf("protoTextLimits has %s, whose comment in proto/ states no limit", field)
		}
	}
}

// protoCharacterLimits reads proto/banli/v1: for each field, the first
// "at most N characters" in the comment just above it.
func protoCharacterLimits(t *testing.T) map[string]int {
	files, err := filepath.Glob("../proto/banli/v1/*.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no proto files: %v", err)
	}
	open := regexp.MustCompile(`^(message|enum|oneof) (\w+) \{`)
	field := regexp.MustCompile(`^(repeated |optional )?[\w.]+ (\w+) = \d+`)
	limit := regexp.MustCompile(`at most ([0-9,]+)\s+characters`)
	out := map[string]int{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		type block struct{ kind, name string }
		var stack []block
		var comment []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch m := open.FindStringSubmatch(line); {
			case m != nil:
				stack = append(stack, block{m[1], m[2]})
				comment = nil
			case line == "}":
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				comment = nil
			case strings.HasPrefix(line, "//"):
				comment = append(comment, strings.TrimPrefix(line, "//"))
			default:
				if fm := field.FindStringSubmatch(line); fm != nil && len(stack) > 0 && stack[len(stack)-1].kind != "enum" {
					message := ""
					for _, b := range stack {
						if b.kind == "message" {
							message = b.name
						}
					}
					if lm := limit.FindStringSubmatch(strings.Join(comment, " ")); lm != nil {
						n, _ := strconv.Atoi(strings.ReplaceAll(lm[1], ",", ""))
						out[message+"."+fm[2]] = n
					}
				}
				comment = nil
			}
		}
		f.Close()
	}
	return out
}
