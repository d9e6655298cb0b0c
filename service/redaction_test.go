package service

import (
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// A reply as bureaus write them: the contact line at its foot, a mobile
// and a landline in the text, an e-mail, and a proposer's ID-card number
// quoted from the case.
const sampleLetter = `关于市政协十三届三次会议第0123号提案的答复

尊敬的王委员：
您提出的《关于加快数字政府建设的提案》收悉。经研究，现答复如下：
一、关于政务数据共享。我局已建成共享平台，咨询可拨打13812345678或0771-5551234，也可发送邮件至zhang.san@gxdata.gov.cn。
二、关于个人信息保护。来信所附身份证号码450102198001011234已按规定处理，张三同志负责跟进。
感谢您对我市数字政府建设的关心和支持。
联系人：张三，联系电话：0771-5559876
`

func TestRedactionMasksContactDetails(t *testing.T) {
	got, redactions := redact(sampleLetter, "张三", "0771-5559876")
	for _, leaked := range []string{"13812345678", "0771-5551234", "zhang.san@", "198001011234", "张三", "5559876", "联系人"} {
		if strings.Contains(got, leaked) {
			t.Errorf("the published text still has %q:\n%s", leaked, got)
		}
	}
	for _, kept := range []string{"138****5678", "0771-*******", "z***@gxdata.gov.cn", "450102************", "张*同志", "感谢您对我市数字政府建设的关心和支持。\n"} {
		if !strings.Contains(got, kept) {
			t.Errorf("the published text lacks %q:\n%s", kept, got)
		}
	}
	kinds := map[banliv1.RedactionKind]int{}
	for _, r := range redactions {
		kinds[r.GetKind()]++
	}
	want := map[banliv1.RedactionKind]int{
		banliv1.RedactionKind_REDACTION_KIND_CONTACT_LINE:   1,
		banliv1.RedactionKind_REDACTION_KIND_PHONE:          2,
		banliv1.RedactionKind_REDACTION_KIND_EMAIL:          1,
		banliv1.RedactionKind_REDACTION_KIND_ID_NUMBER:      1,
		banliv1.RedactionKind_REDACTION_KIND_CONTACT_PERSON: 1,
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%v: %d redactions, want %d (all: %v)", k, kinds[k], n, redactions)
		}
	}
	if again, more := redact(got, "张三", "0771-5559876"); again != got || len(more) != 0 {
		t.Errorf("redacting the published text again changed it: %v\n%s", more, again)
	}
}

func TestRedactionPhoneForms(t *testing.T) {
	for in, want := range map[string]string{
		"电话+86 138-1234-5678。":      "电话138****5678。",
		"电话8613812345678。":          "电话138****5678。",
		"电话（0771）5551234。":          "电话（0771）*******。",
		"电话010 12345678。":           "电话010 ********。",
		"文号桂政数函〔2024〕12号，邮编530022。": "文号桂政数函〔2024〕12号，邮编530022。",
	} {
		if got, _ := redact(in, "", ""); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
