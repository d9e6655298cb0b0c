package i18n

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Violation says in lang what a field violation's description says in
// English: the description is matched against the formats of the
// catalogue, and the values it put in go into the language's own
// wording. A description no format matches is given as it is, after a
// Chinese lead-in, rather than not at all.
func Violation(lang Language, description string) string {
	if lang == English {
		return description
	}
	for _, f := range compiledViolations() {
		if m := f.re.FindStringSubmatch(description); m != nil {
			args := make([]any, len(m)-1)
			for i, v := range m[1:] {
				args[i] = v
			}
			return fmt.Sprintf(f.zh, args...)
		}
	}
	return "此项有误：" + description
}

// ViolationFormats are the English formats the Chinese catalogue says in
// Chinese, for the test that keeps it in step with the service's code.
func ViolationFormats() map[string]string {
	out := make(map[string]string, len(violationsZH))
	for format, zh := range violationsZH {
		out[format] = zh
	}
	return out
}

type violationFormat struct {
	re *regexp.Regexp
	zh string
	// literal is how much of the format is fixed text: the more, the
	// more specific, and the earlier it is tried.
	literal int
}

var compiledViolations = sync.OnceValue(func() []violationFormat {
	verb := regexp.MustCompile(`%[dqsvU]`)
	var out []violationFormat
	for format, zh := range violationsZH {
		var pattern strings.Builder
		pattern.WriteString("^")
		last := 0
		for _, loc := range verb.FindAllStringIndex(format, -1) {
			pattern.WriteString(regexp.QuoteMeta(format[last:loc[0]]))
			switch format[loc[0]+1] {
			case 'd':
				pattern.WriteString(`(-?[0-9]+)`)
			case 'q':
				pattern.WriteString(`("(?:[^"\\]|\\.)*")`)
			case 'U':
				pattern.WriteString(`(U\+[0-9A-F]+)`)
			default:
				pattern.WriteString(`(.+?)`)
			}
			last = loc[1]
		}
		pattern.WriteString(regexp.QuoteMeta(format[last:]) + "$")
		out = append(out, violationFormat{re: regexp.MustCompile(pattern.String()), zh: zh, literal: len(verb.ReplaceAllString(format, ""))})
	}
	slices.SortFunc(out, func(a, b violationFormat) int {
		if a.literal != b.literal {
			return b.literal - a.literal
		}
		return strings.Compare(a.re.String(), b.re.String())
	})
	return out
})
