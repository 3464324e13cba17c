"""The console's words in zh-CN (first) and English, and how it writes money and dates.

Money arrives in integer fen and is shown in yuan with two decimals; times arrive as ISO text
and are shown in Asia/Shanghai.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# key: (zh-CN, en)
WORDS: dict[str, tuple[str, str]] = {
    "title": ("送技 · 部门工作台", "Songji department console"),
    "skip": ("跳到正文", "Skip to content"),
    "signin": ("登录", "Sign in"),
    "signout": ("退出", "Sign out"),
    "token": ("机构令牌", "Organisation token"),
    "or_password": ("或用户名和密码", "or username and password"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "signin_failed": ("令牌或用户名、密码不正确。",
                      "The token, or username and password, is wrong."),
    "expired": ("会话已过期，请重新登录。", "The session has expired: sign in again."),
    "csrf": ("表单已过期，请重试。", "The form has expired: try again."),
    "signed_in_as": ("当前机构", "Signed in as"),
    "language": ("English", "中文"),
    "home": ("首页", "Home"),
    "tasks": ("待办", "Waiting for you"),
    "no_tasks": ("暂无待办。", "Nothing is waiting."),
    "refused": ("被拒绝", "Refused"),
    "done": ("已完成", "Done"),
    "submit": ("提交", "Submit"),
    "role.hr_bureau": ("人社局", "HR bureau"),
    "role.liaison_station": ("劳务工作站", "Liaison station"),
    "role.training_institution": ("培训机构", "Training institution"),
    "role.assessment_body": ("评价机构", "Assessment body"),
    "role.union": ("工会", "Trade union"),
    "role.womens_federation": ("妇联", "Women's federation"),
    "role.media": ("融媒体中心", "Media centre"),
    "role.auditor": ("审计", "Auditor"),
    "role.notifications_service": ("通知服务", "Notifications service"),
    "no_pages": ("此角色的页面尚未提供。", "This role has no pages yet."),
    # liaison station
    "register_worker": ("登记务工人员", "Register a worker"),
    "name": ("姓名", "Name"),
    "national_id": ("身份证号", "ID number"),
    "id_ok": ("校验位正确", "check digit correct"),
    "id_bad": ("校验位错误", "check digit wrong"),
    "id_short": ("需 18 位", "18 characters needed"),
    "mobile": ("手机号", "Mobile"),
    "hometown_county": ("户籍县", "Home county"),
    "hometown_township": ("乡镇", "Township"),
    "employer": ("用工单位", "Employer"),
    "province": ("省", "Province"),
    "city": ("市/区", "City"),
    "registered": ("已登记，人员编号", "Registered: worker id"),
    "already_registered": ("此人已登记，人员编号", "Already registered: worker id"),
    "find_worker": ("按身份证号查找", "Find a worker by ID number"),
    "worker_id": ("人员编号", "Worker id"),
    "intake_survey": ("意向调查", "Intake survey"),
    "occupation": ("工种", "Occupation"),
    "mode": ("班型", "Class mode"),
    "earliest_start": ("最早开课日期", "Earliest start"),
    "enrol": ("报名入班", "Enrol in a class"),
    "class_id": ("班级编号", "Class id"),
    "enrolment_id": ("报名编号", "Enrolment id"),
    "withdraw": ("退出培训", "Withdraw"),
    "reason": ("原因", "Reason"),
    "record": ("培训档案", "Training record"),
    "show": ("查看", "Show"),
    # institution
    "schedule_class": ("开设班级", "Schedule a class"),
    "level": ("等级", "Level"),
    "site_name": ("培训地点", "Site"),
    "capacity": ("名额", "Capacity"),
    "required_minutes": ("要求学时（分钟）", "Required minutes"),
    "class": ("班级", "Class"),
    "open_class": ("打开班级", "Open a class"),
    "roster": ("学员名单", "Roster"),
    "register": ("课次签到表", "Session register"),
    "session_id": ("课次", "Session"),
    "minutes": ("分钟", "Minutes"),
    "method": ("签到方式", "Check-in method"),
    "present": ("出勤", "Present"),
    "submit_register": ("提交签到表", "Submit the register"),
    "outcome": ("结果", "Outcome"),
    "attendance": ("考勤记录", "Attendance"),
    "void": ("作废", "Void"),
    "complete_class": ("结业", "Complete the class"),
    "met_threshold": ("达到出勤要求", "Met the threshold"),
    "attended_minutes": ("出勤分钟", "Minutes attended"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # assessment
    "schedule_assessment": ("安排鉴定", "Schedule an assessment"),
    "assessment_id": ("鉴定编号", "Assessment id"),
    "assessor_ids": ("考评员（逗号分隔）", "Assessors (comma separated)"),
    "scheduled_on": ("鉴定日期", "Date"),
    "scores": ("录入成绩", "Enter scores"),
    "theory": ("理论", "Theory"),
    "practical": ("实操", "Practical"),
    "certificates": ("已发证书", "Certificates issued"),
    "certificate": ("证书编号", "Certificate"),
    "results": ("成绩", "Results"),
    "passed": ("通过", "Passed"),
    # HR bureau
    "approve_class": ("审批班级", "Approve a class"),
    "approve": ("批准", "Approve"),
    "policies": ("补贴政策", "Funding policies"),
    "version": ("版本", "Version"),
    "effective_from": ("生效日期", "Effective from"),
    "budget": ("预算", "Budget"),
    "fund": ("资金", "Fund"),
    "allocated": ("已下达", "Allocated"),
    "committed": ("已承诺", "Committed"),
    "paid": ("已支付", "Paid"),
    "available": ("可用", "Available"),
    "allocate": ("下达资金", "Allocate"),
    "amount_yuan": ("金额（元）", "Amount (yuan)"),
    "allocation_id": ("下达编号", "Allocation id"),
    "reference": ("文号", "Reference"),
    "ledger": ("补贴台账", "Ledger"),
    "filter": ("筛选", "Filter"),
    "status": ("状态", "Status"),
    "payee": ("收款方", "Payee"),
    "rule": ("补贴类型", "Rule"),
    "amount": ("金额（元）", "Amount (yuan)"),
    "line": ("明细", "Line"),
    "batch_approval": ("批量审批", "Approve a batch"),
    "select": ("选择", "Select"),
    "batch_id": ("批次编号", "Batch id"),
    "batch": ("批次", "Batch"),
    "open_batch": ("打开批次", "Open a batch"),
    "notice": ("公示", "Public notice"),
    "objections": ("异议", "Objections"),
    "resolve": ("处理", "Resolve"),
    "upheld": ("成立", "upheld"),
    "dismissed": ("不成立", "dismissed"),
    "bank_file": ("银行文件", "Bank file"),
    "instruction_id": ("支付指令编号", "Instruction id"),
    "accounts": ("账户（每行：收款方,户名,账号,银行代码）",
                 "Accounts (one a line: payee,name,number,bank code)"),
    "issue_instruction": ("生成支付指令并下载", "Issue the instruction and download"),
    "confirm_payment": ("确认支付", "Confirm the payment"),
    "bank_reference": ("银行回单号", "Bank reference"),
    "failed_lines": ("失败明细（逗号分隔）", "Failed lines (comma separated)"),
    "test_clock": ("测试时钟：前进天数", "Test clock: days forward"),
    "today": ("今天", "Today"),
    "date": ("日期", "Date"),
    "due_lines": ("待审批明细", "Lines due"),
    "grant_estimate": ("补贴测算", "Grant calculator"),
    "days": ("天数", "Days"),
    "first_session": ("首次课日期", "First session"),
    "per_trainee": ("每人（元）", "Per trainee (yuan)"),
    # statistics (media centre, women's federation)
    "programme_statistics": ("项目统计", "Programme statistics"),
    "group": ("分组", "Group"),
    "count": ("人数", "Count"),
    "bar": ("图示", "Bar"),
    "suppressed": ("人数过少，不予显示", "Too few to show"),
    "suppressed_note": ("少于 {n} 人的分组不显示人数，以免识别到个人。",
                        "Groups of fewer than {n} workers are not counted here, so that no "
                        "one person can be recognised."),
    "no_data": ("暂无数据。", "Nothing yet."),
    "by.destination": ("按务工地", "By destination"),
    "by.occupation": ("按工种", "By occupation"),
    "by.gender": ("按性别", "By gender"),
    "by.level": ("按等级", "By level"),
    "chart.enrolled": ("报名人数（未退出）", "Enrolled (not withdrawn)"),
    # group names the services answer as codes
    "value.male": ("男", "Men"),
    "value.female": ("女", "Women"),
    "value.unknown": ("未知", "Unknown"),
    "chart.certified": ("持证人数（有效证书）", "Certified (live certificates)"),
    "chart.placed": ("推荐就业人数", "Placed through a referral"),
    # women's federation
    "followup_list": ("跟踪服务名单（发给本单位的通知）",
                      "Follow-up list (the notices addressed to you)"),
    "followups_not_readable": (
        "通知服务没有给出本单位的通知名单；请稍后再试，或请人社局查看访问权限。",
        "Notifications did not give this list; try again later, or ask the HR bureau to "
        "check the access policy."),
    "notice_kind": ("通知类型", "Notice"),
    "source_event": ("来源事件", "Source event"),
    "kind.womens_followup_enrolled": ("已报名培训", "Enrolled in training"),
    "kind.womens_followup_completed": ("已完成培训", "Completed training"),
    "kind.womens_followup_certified": ("已取得证书", "Certified"),
    "kind.womens_followup_placed": ("已就业", "Placed in work"),
    "kind.womens_followup_not_placed": ("尚未就业", "Not placed"),
    # auditor
    "stores": ("各服务事件库", "The services' event stores"),
    "service": ("服务", "Service"),
    "relay": ("转发", "Relay"),
    "readiness": ("就绪检查", "Readiness"),
    "hash_chain": ("哈希链", "Hash chain"),
    "run_verification": ("运行核验", "Run the verification"),
    "verify_how": (
        "在能访问各事件库和总线的机器上，用审计机构的令牌运行：",
        "On a machine that reaches the stores and the bus, with the auditor's token, run:"),
    "auditor_token": ("审计机构的令牌", "the auditor organisation's token"),
    "verify_exit": (
        "verify 逐库核验哈希链及其已签封链头，指出第一个断点；replay 仅凭历史重建补贴台账"
        "并逐行比对。发现问题时退出码为 1。",
        "verify checks each store's chain and its sealed heads and names the first broken "
        "position; replay rebuilds the funding ledger from the history alone and compares it "
        "line by line. Either exits 1 on any problem."),
    # -- form editors: the class's session rows, the funding policy form, their refusals --
    "session_rows": ("课次", "Sessions"),
    "session_row": ("课次", "Session"),
    "session_start": ("开始时间", "Starts"),
    "session_end": ("结束时间", "Ends"),
    "session_kind": ("类型", "Kind"),
    "add_session": ("添加课次", "Add a session"),
    "publish_policy": ("发布此版本", "Publish this version"),
    "remove_row": ("删除", "Remove"),
    "kind.classroom_theory": ("课堂理论", "Classroom theory"),
    "kind.online_theory": ("线上理论", "Online theory"),
    "kind.practical_on_the_job": ("岗位实操", "Practical, on the job"),
    "kind.field": ("现场教学", "Field"),
    "new_policy_version": ("发布新版本", "Publish a new version"),
    "policy_prefilled": ("已按最新版本（{policy_id} 第 {version} 版）填好，改动后发布。",
                         "Filled in from the newest version ({policy_id} v{version}): change "
                         "what is new, then publish."),
    "policy_id": ("政策编号", "Policy id"),
    "training_subsidy_rates": ("培训补贴标准", "Training subsidy rates"),
    "rate_row": ("标准", "Rate"),
    "amount_per_trainee_yuan": ("每人金额（元）", "Amount per trainee (yuan)"),
    "add_rate": ("添加补贴标准", "Add a rate"),
    "uplifts_heading": ("上浮（按务工地或工种）", "Uplifts (by destination or occupation)"),
    "uplift_row": ("上浮", "Uplift"),
    "uplift_percent": ("上浮比例（%）", "Uplift (%)"),
    "uplift_occupation": ("工种（按工种上浮时填写）", "Occupation (for an occupation's uplift)"),
    "uplift_city": ("市/区（空：全省）", "City (empty: the whole province)"),
    "add_uplift": ("添加上浮", "Add an uplift"),
    "living_subsidy_heading": ("生活补贴（每出勤日）", "Living subsidy (per day attended)"),
    "meals_yuan_per_day": ("伙食费（元/天）", "Meals (yuan a day)"),
    "transport_yuan_per_day": ("交通费（元/天）", "Transport (yuan a day)"),
    "attendance_threshold": ("出勤率要求（%）", "Attendance threshold (%)"),
    "caps_heading": ("限额", "Caps"),
    "cap_one_per_level": ("同一工种同一等级只补贴一次",
                          "One training subsidy per occupation and level"),
    "cap_per_year": ("每人每年最多补贴次数（空：不限）",
                     "Subsidised trainings per worker a year (empty: no cap)"),
    "invalid.general": ("填写有误", "Not accepted"),
    "invalid.see_fields": ("填写有误，请看各栏旁的说明。",
                           "Not accepted: see the reasons beside the fields."),
    "invalid.number": ("请填写整数", "Enter a whole number"),
    "invalid.yuan": ("请填写金额，元，最多两位小数",
                     "Enter an amount in yuan, at most two decimals"),
    "invalid.percent": ("请填写 0 到 100 的整数", "Enter a whole number from 0 to 100"),
    "invalid.date": ("请填写日期（年-月-日）", "Enter a date (year-month-day)"),
    "invalid.time": ("请填写时间（时:分）", "Enter a time (hours:minutes)"),
    "invalid.no_sessions": ("至少填写一个课次", "Enter at least one session"),
    "invalid.no_rates": ("至少填写一个补贴标准", "Enter at least one rate"),
    "invalid.uplift_scope": ("上浮须填省（按务工地）或工种（按工种），二者选一",
                             "An uplift names a province (a destination) or an occupation, "
                             "not both"),
    "invalid.missing": ("必填", "Required"),
    "invalid.string_too_short": ("必填", "Required"),
    "invalid.string_too_long": ("太长", "Too long"),
    "invalid.string_pattern_mismatch": ("格式不符（小写字母、数字、下划线或连字符）",
                                        "Not in the expected form (lower-case letters, digits, "
                                        "_ or -)"),
    "invalid.greater_than": ("数值太小", "Too small"),
    "invalid.greater_than_equal": ("数值太小", "Too small"),
    "invalid.less_than_equal": ("数值太大", "Too large"),
    "invalid.int_parsing": ("请填写整数", "Enter a whole number"),
    "invalid.literal_error": ("不是可选的值", "Not one of the choices"),
    "refused.session_ends_before_it_starts": ("结束时间须晚于开始时间（同一天内）",
                                              "Ends before it starts (a session ends the same "
                                              "day)"),
    "refused.sessions_overlap": ("与同日另一课次时间重叠", "Overlaps another session that day"),
    "refused.required_minutes_exceed_sessions": (
        "超过各课次合计（{planned_minutes} 分钟）",
        "More than the sessions add up to ({planned_minutes} minutes)"),
    "refused.class_already_scheduled": ("此班级编号已被使用", "This class id is taken"),
    "refused.occupation_not_in_catalogue": ("工种目录中没有此工种",
                                            "Not in the occupation catalogue"),
    "refused.occupation_not_in_scope": ("本机构未获准培训此工种",
                                        "The institution is not accredited for it"),
    "refused.level_not_offered": ("此工种不设此等级", "The catalogue does not offer this level"),
    "refused.site_not_in_scope": ("本机构未获准在此地点培训",
                                  "The institution is not accredited at this site"),
    "refused.uplift_above_ceiling": ("上浮不得超过 {ceiling}%", "At most {ceiling}%"),
    "refused.duplicate_rate": ("同一工种同一等级已有补贴标准",
                               "This occupation and level already has a rate"),
    "refused.duplicate_uplift": ("同一工种或地点已有上浮", "This occupation or place already has "
                                 "an uplift"),
    # class list and training statistics (institution's classes, HR approval queue, media)
    "classes_list": ("本机构的班级", "Your classes"),
    "classes_task.awaiting_approval": ("待人社局审批的班级", "Classes waiting for approval"),
    "classes_task.registers": ("正在上课、可录入考勤的班级", "Classes running: take the registers"),
    "classes_task.to_complete": ("课程已结束、待结业的班级", "Classes to complete"),
    "classes_state.awaiting_approval": ("待审批", "Waiting for approval"),
    "classes_state.approved": ("已批准", "Approved"),
    "classes_state.completed": ("已结业", "Completed"),
    "classes_state": ("状态", "State"),
    "classes_destination": ("培训地点", "Destination"),
    "classes_dates": ("上课日期", "Dates"),
    "classes_enrolled": ("已报名 / 名额", "Enrolled / capacity"),
    "classes_institution": ("培训机构", "Institution"),
    "classes_first_page": ("第一页", "First page"),
    "classes_next_page": ("下一页", "Next page"),
    "classes_more_pending": ("还有更多待审批的班级：批准以上班级后刷新本页，或按编号审批。",
                             "More classes are waiting: approve these and reload, or approve "
                             "one by its id."),
    "classes_more_tasks": ("还有更多班级未列出，见下方班级列表。",
                           "More classes than these wait: see the list of classes below."),
    "chart.classes": ("开班数", "Classes"),
    "classes_count": ("班数", "Classes"),
    "chart.trained": ("结业达标人数", "Completed training (attendance met)"),
    # liaison station home: the task queue and the station's workers' journeys
    "journey.title": ("本站务工人员培训进度", "Our workers' journeys"),
    "journey.stage": ("阶段", "Stage"),
    "journey.all": ("全部", "All"),
    "journey.stage.registered": ("已登记", "Registered"),
    "journey.stage.surveyed": ("已调查", "Surveyed"),
    "journey.stage.enrolled": ("已报名", "Enrolled"),
    "journey.stage.trained": ("已结业", "Trained"),
    "journey.stage.certified": ("已取证", "Certified"),
    "journey.stage.paid": ("补贴已发放", "Paid"),
    "journey.starts_on": ("开课日期", "Class starts"),
    "journey.attendance": ("出勤率", "Attendance"),
    "journey.certified_on": ("取证日期", "Certified on"),
    "journey.paid_on": ("发放日期", "Paid on"),
    "journey.next_page": ("下一页", "Next page"),
    "journey.first_page": ("第一页", "First page"),
    "journey.more": ("查看全部", "See them all"),
    "journey.task.survey": ("已登记、未做意向调查", "Registered, no intake survey yet"),
    "journey.task.enrol": ("已调查、未报名", "Surveyed, not enrolled yet"),
    "journey.task.starting": ("一周内开课的报名", "Enrolled in classes starting within a week"),
    # auditor: each store's hash-chain status and the funding replay, run from the console
    "chain.title": ("各库哈希链", "Each store's hash chain"),
    "chain.hint": (
        "每个服务在后台用自己的数据库逐位置重算哈希链，并与它发布到总线上的已签封链头比对"
        "（与 songji audit verify 同一段代码）。结论出自该服务自己的进程：能控制该进程者可"
        "令其说谎，独立核验请在下方用审计机构自己的权限运行命令行。",
        "Each service recomputes its own store's chain in the background, position by "
        "position, and checks it against the heads it sealed on the bus (the code "
        "songji audit verify runs). The verdict comes from the service's own process: whoever "
        "controls it can make it lie; for the independent check run the command below with "
        "the auditor's own access."),
    "chain.head_position": ("链头位置", "Head position"),
    "chain.head_hash": ("链头哈希", "Head chain hash"),
    "chain.last_sealed": ("最近签封链头", "Last sealed head"),
    "chain.position": ("位置", "position"),
    "chain.none_yet": ("尚无（核验时从总线读取）",
                       "none yet (read from the bus by a verification)"),
    "chain.verification": ("最近一次核验", "Latest verification"),
    "chain.never": ("尚未核验", "never verified"),
    "chain.positions_checked": ("个位置已核验", "positions checked"),
    "chain.first_bad": ("第一个断点", "First bad position"),
    "chain.by": ("发起机构", "Requested by"),
    "chain.verify": ("核验", "Verify"),
    "chain.state.running": ("核验中", "running"),
    "chain.state.verified": ("通过", "verified"),
    "chain.state.broken": ("断链", "BROKEN"),
    "chain.state.unsealed": ("未签封", "NOT SEALED"),
    "chain.state.failed": ("未能完成", "failed"),
    "chain.state.interrupted": ("已中断", "interrupted"),
    "chain_verify_started": ("已开始核验哈希链", "chain verification started"),
    "chain_verify_running": ("已有核验在进行，下面显示的就是它",
                             "a verification is running already: shown below"),
    "replay.title": ("补贴台账重放", "Funding ledger replay"),
    "replay.hint": (
        "工作台以审计机构的令牌和本机的审计配置运行 songji audit replay --source topics："
        "读取全部主题和事件库，重建补贴台账并与 funding 记录逐行比对。一次只运行一个，"
        "超时即停止；最近一次结论保存在工作台的状态目录中，工作台重启后仍在，"
        "但运行中的重放会随工作台停止而中断。",
        "The console runs songji audit replay --source topics with the auditor's token and "
        "this machine's audit configuration: it reads every topic and the stores, rebuilds "
        "the funding ledger and compares it line by line with funding's. One at a time, "
        "stopped when it runs too long; the last verdict is kept in the console's state "
        "directory and survives a restart of the console, but a replay under way is "
        "interrupted when the console stops."),
    "replay.run": ("运行重放", "Run the replay"),
    "replay.none": ("尚未运行", "not run yet"),
    "replay.elapsed": ("用时（秒）", "Seconds"),
    "replay.started": ("开始于", "Started"),
    "replay.output": ("输出", "Output"),
    "replay.differences_file": ("差异已写入", "Differences written to"),
    "replay.outcome.running": ("运行中", "running"),
    "replay.outcome.matches": ("一致", "matches"),
    "replay.outcome.differences": ("有差异", "DIFFERENCES"),
    "replay.outcome.could_not_run": ("未能运行", "could not run"),
    "replay.outcome.timed_out": ("超时已停止", "stopped: ran too long"),
    "replay.outcome.interrupted": ("已中断", "interrupted"),
    "replay_started": ("已开始重放", "The replay started"),
    "replay_running": ("已有重放在运行：一次只运行一个",
                       "A replay is running already: one at a time"),
    # -- assessment body: its task queue, the completed classes no assessment is scheduled for --
    "body_queue": ("待安排鉴定的班级", "Completed classes waiting for an assessment"),
    "body_queue.completed_on": ("结业日期", "Completed on"),
    "body_queue.eligible": ("可参加鉴定人数", "Trainees to assess"),
    "body_queue.take": ("安排鉴定", "Schedule"),
    "body_queue.more": ("还有更多班级在等待，安排后本列表将更新。",
                        "More classes are waiting; the list moves on as they are scheduled."),
}

# The services' refusal codes the console can say in Chinese; others show the service's own
# sentence (English) after the code.
REFUSALS_ZH: dict[str, str] = {
    "assessor_must_recuse": "考评员与培训机构有关联，须回避",
    "worker_already_registered": "此人已登记",
    "class_not_approved": "班级尚未审批",
    "class_unknown": "没有这个班级",
    "class_full": "班级已满",
    "worker_not_enrolled": "该学员未报名此班",
    "worker_unknown": "没有可查看的此人登记记录",
    "forbidden": "无权进行此操作",
    "invalid_request": "填写有误",
    "service_unreachable": "服务暂时无法访问",
}


def translate(lang: str, key: str) -> str:
    pair = WORDS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh-CN" else pair[1]


def refusal_text(lang: str, code: str, message: str) -> str:
    said = REFUSALS_ZH.get(code) if lang == "zh-CN" else None
    return f"{said}（{code}）：{message}" if said else f"{code}: {message}"


def yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def fen_of(yuan_text: str) -> int:
    """'1,234.5' -> 123450; ValueError for anything else."""
    text = yuan_text.replace(",", "").strip()
    whole, _, part = text.partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        raise ValueError(yuan_text)
    return int(whole) * 100 + int(part.ljust(2, "0") or 0)


def local_time(value: str | datetime | None) -> str:
    """An instant as Asia/Shanghai wall time; a date as it is."""
    if value is None:
        return "—"
    if isinstance(value, str):
        if len(value) == len("2025-08-04"):  # a date, not an instant
            return value
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat(sep=" ", timespec="minutes")
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
