package i18n

// actionsZH says what each kind of event (Event.action) did, in Chinese,
// by the action as the event records it. TestEveryActionHasChinese keeps
// it in step with the service's steps.
var actionsZH = map[string]string{
	"CreateProposal": "收到案件", "ImportProposal": "导入案件", "AssignProposal": "交办", "RefuseFiling": "不予立案",
	"WithdrawProposal": "撤回案件", "MergeProposals": "并案（本案保留）", "MergeProposals (as a source)": "并入他案",
	"MarkKey": "标记重点案件", "RecordSupervision": "记录领导督办", "UploadFile": "上传文件", "UpdateProposal": "更正案件信息",
	"RemoveAssignment": "撤回交办", "ChangeAssignmentRole": "调整承办方式", "MergeUnit (the part moves to the successor)": "机构改革，转由新单位承办",
	"SignAssignment": "签收", "RequestReassignment": "申请调整承办单位", "DecideReassignment (approve)": "同意调整承办单位",
	"DecideReassignment (refuse)": "不同意调整承办单位", "RecordConsultation": "沟通", "SubmitOpinion": "提交会办意见",
	"SubmitReply": "答复", "RateReply (satisfied or basically satisfied)": "评价（满意或基本满意）", "RateReply (unsatisfied)": "评价（不满意，重新办理）",
	"RateReply (more ratings due)": "评价（待其他提出人评价）", "RateReply (unsatisfied, to the office)": "评价（不满意，待交办机构处理）",
	"CloseRatingPeriod (ratings not returned)": "评价期满（评价未返回）", "DecideUnsatisfied (re-handle)": "交办机构决定重新办理",
	"DecideUnsatisfied (explain and close)": "交办机构说明情况后办结", "PublishReply": "公开答复", "PublishReply (to the office's approval)": "提交公开审核",
	"ReviewPublication (approve)": "公开审核通过", "ReviewPublication (return)": "公开审核退回", "CorrectPublication": "更正公开内容",
	"WithdrawPublication": "撤回公开", "WithholdReply": "依法不予公开", "ClosePublicationPeriod (not published in time)": "公开期满未公开（公开逾期）",
	"a new round (RateReply unsatisfied, DecideUnsatisfied re-handle) supersedes the reply": "新一轮答复取代原答复的公开",
	"CorrectReplyCategory": "更正答复类别", "DelegateAssignment": "转办", "RecordDelivery": "送达答复", "SaveReplyDraft": "保存答复草稿",
	"ReturnReplyDraft": "退回答复草稿", "RecordCollectiveReview": "集体评议", "CountersignReply": "会签",
	"SubmitReply (to the office's review)": "签发答复，待交办机构审核", "ReviewReply (accept)": "交办机构审核通过答复",
	"ReviewReply (return for re-handling)": "交办机构退回重办", "RecordReminder": "催办", "NoticeOverdue": "超期提醒", "RequestExtension": "申请延期",
	"DecideExtension (approve)": "同意延期", "DecideExtension (refuse)": "不同意延期", "ReportFollowUp": "报告跟踪办理进展",
	"ReportFollowUp (final reply)": "报告跟踪办理结果（已解决）", "CloseFollowUp": "跟踪办理销号", "CarryOverFollowUp (a new year)": "转入新年度跟踪办理",
	"RecomputeDeadlines": "重新计算办理期限", "RecomputeDeadlines (queued)": "安排重新计算办理期限",

	"CreateSession": "登记届次", "UpdateSession": "修改届次", "CreateUnit": "登记单位", "UpdateUnit": "修改单位", "DeactivateUnit": "停用单位",
	"MergeUnit": "机构改革（单位并入）", "MergeUnit (the successor)": "机构改革（承接单位）", "MergeUnit (the department moves)": "机构改革（处室转入）",
	"MergeUnit (the account)": "机构改革（账号转入或停用）",
	"CreateLeader":            "登记领导", "UpdateLeader": "修改领导信息", "LoadCalendarYear": "载入年度假日安排", "LoadRegionalCalendar": "载入地区假日安排",
	"SaveScoringPolicy": "保存评分办法", "CreateAccount": "新建账号", "RotateAccountKey": "更换密钥", "DisableAccount": "停用账号",
	"EnableAccount": "启用账号", "BootstrapAdmin": "初次启动，新建管理员账号",
	"CreateWebhook": "新建推送地址", "UpdateWebhook": "修改推送地址", "DeleteWebhook": "删除推送地址", "RotateWebhookSecret": "更换推送签名密钥",
}

// Action is what an event's action did, in lang ("" for an action the
// catalogue lacks; in English, the action itself, which names the step).
func Action(lang Language, action string) string {
	if lang == English {
		return action
	}
	return actionsZH[action]
}
