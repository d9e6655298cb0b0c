package i18n

import "fmt"

// The messages errors carry for people (google.rpc.LocalizedMessage), by
// key; "%s" is filled with what the error names (a field, a resource, a
// reference). TestEveryMessageInEveryLanguage keeps the catalogues alike.
var messagesZH = map[string]string{
	"invalid_argument":       "请求有误，请检查以下字段：%s。",
	"invalid_argument_plain": "请求有误。",
	"request_reused":         "请求编号（request_id）已用于另一请求，请换用新的编号。",
	"not_found":              "未找到%s。",
	"not_found_plain":        "未找到所指的记录。",
	"already_exists":         "%s已存在。",
	"already_exists_plain":   "该记录已存在。",
	"permission_denied":      "您的账号无权进行此操作（字段：%s）。",
	"permission_denied_any":  "您的账号无权进行此操作。",
	"unauthenticated":        "未登录，或密钥、证书无效，请重新登录。",
	"invalid_transition":     "%s当前所处状态下不能进行此步骤。",
	"standby":                "本服务器为备用服务器，只能查询，请在主服务器上办理。",
	"case_limit":             "%s已达上限，不能再增加。",
	"precondition":           "不符合办理规定，不能进行此步骤。",
	"failed_precondition":    "当前条件下不能进行此操作。",
	"aborted":                "数据已被他人更新，请刷新后重试。",
	"resource_exhausted":     "请求过多或内容过大，请稍后重试或减少内容。",
	"unavailable_ref":        "服务器未能完成请求，请稍后重试；如问题持续，请将编号%s告知运维人员。",
	"unavailable":            "服务暂时不可用，请稍后重试。",
	"unimplemented":          "当前存储方式不支持此功能。",
	"deadline_exceeded":      "请求超时，请稍后重试。",
	"canceled":               "请求已取消。",
	"unknown":                "请求未能完成。",

	// Deadlines' rules (Deadline.rule_zh), and what they count from.
	"deadline.working_days":                   "%s后%s个工作日",
	"deadline.months":                         "%s后%s个月",
	"deadline.months_moved":                   "%s后%s个月（遇节假日顺延至下一工作日）",
	"deadline.fixed":                          "%s前（本届次规定的答复日期，早于%s）",
	"deadline.extended":                       "经批准延期至%s（原为%s）",
	"from.assignment":                         "交办",
	"from.the reply":                          "答复",
	"from.the delivery":                       "送达",
	"from.now":                                "今天",
	"from.the unsatisfied rating":             "评价不满意",
	"from.the office's decision to re-handle": "交办机构决定重办",
}

var messagesEN = map[string]string{
	"invalid_argument":       "The request is not valid; check these fields: %s.",
	"invalid_argument_plain": "The request is not valid.",
	"request_reused":         "The request_id was used for another request; use a new one.",
	"not_found":              "%s was not found.",
	"not_found_plain":        "What the request names was not found.",
	"already_exists":         "%s exists already.",
	"already_exists_plain":   "It exists already.",
	"permission_denied":      "Your account may not do this (field: %s).",
	"permission_denied_any":  "Your account may not do this.",
	"unauthenticated":        "You are not signed in, or the key or certificate is not valid; sign in again.",
	"invalid_transition":     "This step is not allowed where %s stands now.",
	"standby":                "This server is a standby and only answers reads; do this on the primary.",
	"case_limit":             "%s has reached its limit.",
	"precondition":           "A handling rule does not allow this step now.",
	"failed_precondition":    "This cannot be done as things stand.",
	"aborted":                "Someone changed it in the meantime; reload it and try again.",
	"resource_exhausted":     "Too many requests, or too large; try again later or send less.",
	"unavailable_ref":        "The server could not complete the request; try again later, and give the operators the reference %s if it persists.",
	"unavailable":            "The service is unavailable for now; try again later.",
	"unimplemented":          "This storage backend cannot do this.",
	"deadline_exceeded":      "The request took too long; try again later.",
	"canceled":               "The request was cancelled.",
	"unknown":                "The request could not be completed.",

	"deadline.working_days":                   "%[2]s working days after %[1]s",
	"deadline.months":                         "%[2]s months after %[1]s",
	"deadline.months_moved":                   "%[2]s months after %[1]s, moved to the next working day",
	"deadline.fixed":                          "by %s, the session's fixed reply day (before %s)",
	"deadline.extended":                       "extended to %s (from %s) on approval",
	"from.assignment":                         "assignment",
	"from.the reply":                          "the reply",
	"from.the delivery":                       "the delivery",
	"from.now":                                "now",
	"from.the unsatisfied rating":             "the unsatisfied rating",
	"from.the office's decision to re-handle": "the office's decision to re-handle",
}

// Message is the message key says in lang, with args filled in.
func Message(lang Language, key string, args ...any) string {
	catalogue := messagesZH
	if lang == English {
		catalogue = messagesEN
	}
	format, ok := catalogue[key]
	if !ok {
		format = catalogue["unknown"]
	}
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
