package service

import (
	"fmt"
	"strings"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
	"github.com/banli/banli/store"
)

// What an event of a case says in Chinese (Event.description_zh): the
// unit the step concerns, by its name, then what was done, with what the
// step decided that people look for (the department and person a part
// went to, the units a case was assigned to, a reply's category).

// describeCaseZH describes step on case p, whose target is target.
func describeCaseZH(r store.Reader, p *banliv1.Proposal, step Step, target string) string {
	names := newDisplayNames(r)
	what := i18n.Action(i18n.Chinese, string(step))
	if what == "" {
		what = string(step)
	}
	a := targetAssignment(p, target)
	if a == nil {
		if step == StepAssign {
			var parts []string
			for _, a := range p.GetAssignments() {
				if isCurrent(a) {
					parts = append(parts, fmt.Sprintf("%s（%s）", names.orName(a.GetUnit()), i18n.Label(i18n.Chinese, a.GetRole().String())))
				}
			}
			return what + "：" + strings.Join(parts, "、")
		}
		return what
	}
	out := names.orName(a.GetUnit()) + " " + what
	switch step {
	case StepSign, StepDelegate:
		var more []string
		if d := a.GetDepartment(); d != "" {
			more = append(more, "责任处室："+names.orName(d))
		}
		if person := a.GetResponsiblePerson(); person != "" {
			more = append(more, "经办人："+person)
		}
		if len(more) > 0 {
			out += "；" + strings.Join(more, "；")
		}
	case StepSubmitReply:
		if replies := a.GetReplies(); len(replies) > 0 {
			latest := replies[len(replies)-1]
			out += fmt.Sprintf("（第%d轮，%s）", latest.GetRound(), i18n.Label(i18n.Chinese, latest.GetCategory().String()))
		}
	}
	return out
}

// targetAssignment is the part of p a target names (the part itself, or
// a reply or draft below it), or nil.
func targetAssignment(p *banliv1.Proposal, target string) *banliv1.Assignment {
	parts := strings.Split(target, "/")
	if len(parts) < 4 || parts[2] != assignmentsCollection {
		return nil
	}
	name := strings.Join(parts[:4], "/")
	for _, a := range p.GetAssignments() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}
