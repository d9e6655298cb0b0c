package service

import (
	"regexp"
	"strings"
	"unicode/utf8"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// What a published reply never carries (国办发〔2014〕46号: replies are
// published with the contact details removed). The reply's own contact
// person and phone are fields of their own, but letters repeat them in the
// text ("联系人：张三，联系电话：0771-5551234"), and letters name other
// people's phones, e-mail addresses and ID-card numbers. redact masks all
// of them, so that what a publisher sends, edited or not, goes out without
// them; the publisher reads the result first (PreviewPublication).

// contactLinePrefixes start the contact line at the foot of a letter, which
// goes whole.
var contactLinePrefixes = []string{"联系人", "联系电话", "联系方式", "联 系 人", "联系单位及电话"}

var (
	// A resident ID-card number: region, birth date, sequence, check digit.
	idNumberPattern = regexp.MustCompile(`\b[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]\b`)
	// A mobile number, with or without +86 and separators.
	mobilePattern = regexp.MustCompile(`(?:\+86[- ]?|\b86[- ]?|\b)1[3-9]\d[- ]?\d{4}[- ]?\d{4}\b`)
	// A landline with its area code: 0771-5551234, (0771)5551234, 010 12345678.
	landlinePattern = regexp.MustCompile(`(?:\b0\d{2,3}[-－ ]?|[（(]0\d{2,3}[)）] ?)\d{7,8}\b`)
	emailPattern    = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
)

// redact returns text as it may be published, and what it masked.
func redact(text, contactPerson, contactPhone string) (string, []*banliv1.Redaction) {
	var found []*banliv1.Redaction
	mask := func(kind banliv1.RedactionKind, original, replacement string) string {
		found = append(found, &banliv1.Redaction{Kind: kind, Original: original, Replacement: replacement})
		return replacement
	}

	var kept []string
	for _, line := range strings.SplitAfter(text, "\n") {
		if isContactLine(line) {
			mask(banliv1.RedactionKind_REDACTION_KIND_CONTACT_LINE, strings.TrimRight(line, "\r\n"), "")
			continue
		}
		kept = append(kept, line)
	}
	text = strings.Join(kept, "")

	if phone := strings.TrimSpace(contactPhone); utf8.RuneCountInString(phone) >= 5 {
		text = replaceEach(text, phone, func(s string) string {
			return mask(banliv1.RedactionKind_REDACTION_KIND_PHONE, s, maskDigits(s, 0))
		})
	}
	text = idNumberPattern.ReplaceAllStringFunc(text, func(s string) string {
		return mask(banliv1.RedactionKind_REDACTION_KIND_ID_NUMBER, s, s[:6]+strings.Repeat("*", len(s)-6))
	})
	text = mobilePattern.ReplaceAllStringFunc(text, func(s string) string {
		return mask(banliv1.RedactionKind_REDACTION_KIND_PHONE, s, maskMobile(s))
	})
	text = landlinePattern.ReplaceAllStringFunc(text, func(s string) string {
		return mask(banliv1.RedactionKind_REDACTION_KIND_PHONE, s, maskLandline(s))
	})
	text = emailPattern.ReplaceAllStringFunc(text, func(s string) string {
		at := strings.LastIndexByte(s, '@')
		_, first := utf8.DecodeRuneInString(s)
		return mask(banliv1.RedactionKind_REDACTION_KIND_EMAIL, s, s[:first]+"***"+s[at:])
	})
	if person := strings.TrimSpace(contactPerson); utf8.RuneCountInString(person) >= 2 {
		_, surname := utf8.DecodeRuneInString(person)
		masked := person[:surname] + strings.Repeat("*", utf8.RuneCountInString(person)-1)
		text = replaceEach(text, person, func(s string) string {
			return mask(banliv1.RedactionKind_REDACTION_KIND_CONTACT_PERSON, s, masked)
		})
	}
	return text, found
}

func isContactLine(line string) bool {
	trimmed := strings.TrimLeft(line, " \t\u3000")
	for _, prefix := range contactLinePrefixes {
		if strings.HasPrefix(trimmed, prefix) {
			return true
		}
	}
	return false
}

// replaceEach replaces every occurrence of old in s by what with gives.
func replaceEach(s, old string, with func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(with(old))
		s = s[i+len(old):]
	}
}

// maskDigits replaces every digit of s after the first keep digits by "*".
func maskDigits(s string, keep int) string {
	var b strings.Builder
	seen := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			seen++
			if seen > keep {
				r = '*'
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maskMobile keeps a mobile number's first 3 and last 4 digits, as
// published lists print them: 138****5678.
func maskMobile(s string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	digits = strings.TrimPrefix(digits, "86")
	if len(digits) != 11 {
		return maskDigits(s, 0)
	}
	return digits[:3] + "****" + digits[7:]
}

// maskLandline keeps a landline's area code: 0771-*******.
func maskLandline(s string) string {
	if i := strings.IndexAny(s, ")）"); i >= 0 {
		_, size := utf8.DecodeRuneInString(s[i:])
		return s[:i+size] + maskDigits(s[i+size:], 0)
	}
	if i := strings.IndexAny(s, "-－ "); i >= 0 {
		return s[:i] + maskDigits(s[i:], 0)
	}
	area := 4 // 0771; 010 and 02x have three digits
	if strings.HasPrefix(s, "01") || strings.HasPrefix(s, "02") {
		area = 3
	}
	return s[:area] + maskDigits(s[area:], 0)
}
