"""Write tests/data/padded_questions.csv: held-out questions for the demo KB, bare and
wrapped the way visitors write them (greetings, thanks, apologies, signatures, pasted log
lines) or with typos. Never used for training or calibration; it measures how much
padding costs a right answer's confidence (tests/ai/test_padding.py, docs/ai.md).

The bare questions and their typo'd versions are written by hand, one pair per line of
``BARE``; each bare question also gets three wrapped versions, its wrappers taken in turn
from the hand-written pools below (so every wrapper is used about equally). Columns:
``text,label,bare,kind`` with kind one of bare, polite, signature, log, typo.

    .venv/bin/python benchmarks/make_padded_questions.py
"""

from __future__ import annotations

import csv
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "padded_questions.csv"

# (entry, bare question, the same with typos)
BARE = [
    (
        "account-add-users",
        "how can my designer get into the account without my password",
        "how can my desginer get into the acount without my pasword",
    ),
    (
        "account-close",
        "I want to shut down my hosting account for good",
        "I want to shut down my hostng acount for good",
    ),
    (
        "account-password-reset",
        "how do I get a new password for the control panel",
        "how do i get a new pasword for the controll panel",
    ),
    (
        "account-two-factor",
        "how do I switch on two step login for my account",
        "how do I swtich on two step login for my acount",
    ),
    (
        "backups-restore-database",
        "can you put my mysql database back to how it was on monday",
        "can you put my mysql databse back to how it was on monady",
    ),
    (
        "backups-restore-files",
        "I need to get back a folder I removed from my site yesterday",
        "I need to get back a foldr I removed from my site yesterdya",
    ),
    (
        "backups-schedule",
        "how many days of backups do you keep for my site",
        "how many days of backps do you keep for my sight",
    ),
    (
        "billing-change-plan",
        "I'd like to move up to a larger hosting package",
        "I'd like to move up to a larger hosting pakage",
    ),
    (
        "billing-failed-payment",
        "my card got declined and now my site is suspended",
        "my card got declind and now my site is suspened",
    ),
    (
        "billing-invoices",
        "where do I download the invoices for last quarter",
        "where do I downlaod the invoces for last quarter",
    ),
    (
        "billing-payment-methods",
        "how do I replace the credit card on file",
        "how do I replace the credt card on fiel",
    ),
    (
        "billing-refunds",
        "can I have my money back for the plan I just bought",
        "can I have my mony back for the plan I just bougth",
    ),
    (
        "billing-vat-receipt",
        "where do I enter my company VAT number",
        "where do I enter my compnay VAT numbr",
    ),
    (
        "cron-jobs",
        "how do I run a script automatically every night",
        "how do I run a scrpit automaticaly every night",
    ),
    (
        "databases-phpmyadmin",
        "how do I make a new mysql database",
        "how do I make a new mysql databse",
    ),
    (
        "dns-a-cname-records",
        "how do I point www at my other server with a cname",
        "how do I piont www at my other sever with a cname",
    ),
    (
        "dns-mx-records",
        "what MX records do I need for google workspace mail",
        "what MX recrods do I need for gogle workspace mail",
    ),
    (
        "dns-nameservers",
        "which nameservers should my domain use",
        "which nameservres should my domian use",
    ),
    (
        "dns-propagation",
        "I changed my DNS hours ago and the site still shows the old server",
        "I chnaged my DNS hours ago and the site still shows the old sever",
    ),
    (
        "dns-txt-records",
        "how do I add a TXT record so google can verify my domain",
        "how do I add a TXT recrod so google can verfy my domain",
    ),
    (
        "domain-expired",
        "my domain ran out last week, can I still recover it",
        "my domian ran out last week, can I still recovr it",
    ),
    (
        "domain-register",
        "I want to buy a new domain name for my shop",
        "I want to buy a new domian name for my shpo",
    ),
    (
        "domain-renewal",
        "how do I renew my domain for another year",
        "how do I renwe my domain for anohter year",
    ),
    (
        "domain-transfer-in",
        "how do I bring my domain over to you from godaddy",
        "how do I bring my domian over to you from godady",
    ),
    (
        "domain-transfer-out",
        "where can I find the transfer code to move my domain away",
        "where can I find the tranfser code to move my domian away",
    ),
    (
        "domain-whois-privacy",
        "how do I hide my home address from the whois lookup",
        "how do I hide my home adress from the whois lookp",
    ),
    (
        "email-client-setup",
        "how to set up my email on my iPhone",
        "how to set up my emial on my iPhnoe",
    ),
    (
        "email-create-mailbox",
        "how do I create a new email address on my domain",
        "how do I creat a new email adress on my domain",
    ),
    (
        "email-forwarding",
        "how do I forward my business email to my gmail",
        "how do I foward my buisness email to my gmail",
    ),
    (
        "email-imap-smtp-settings",
        "what is the outgoing smtp server and port",
        "what is the outgoign smtp sever and port",
    ),
    (
        "email-quota",
        "my mailbox is full and people get bounce messages",
        "my mailbx is full and poeple get bounce messages",
    ),
    (
        "email-spam",
        "how do I stop all this junk mail coming in",
        "how do I stop all this junk mial coming in",
    ),
    (
        "email-spf-dkim-dmarc",
        "my emails keep ending up in my customers' spam folders",
        "my emails keep endng up in my custmers' spam folders",
    ),
    (
        "error-500",
        "my website shows an internal server error 500",
        "my webiste shows an internal sever error 500",
    ),
    (
        "file-manager",
        "can I edit my site's files in the browser",
        "can I edit my site's fiels in the browswer",
    ),
    (
        "migration-site-transfer",
        "can you move my website over from my current host",
        "can you move my webiste over from my curent host",
    ),
    (
        "migration-wordpress",
        "how do I move my wordpress site to you",
        "how do I move my wordpres site to you",
    ),
    (
        "php-version",
        "how do I change which PHP version my site runs",
        "how do I chnage which PHP verison my site runs",
    ),
    (
        "sales-choose-plan",
        "which of your hosting plans is right for a small business",
        "which of your hostign plans is rigth for a small busines",
    ),
    (
        "sales-dedicated-server",
        "do you rent out dedicated servers",
        "do you rent out dedicated severs",
    ),
    (
        "security-hacked-site",
        "I think my website has been hacked and is showing spam",
        "I think my webiste has been hacked and is showign spam",
    ),
    (
        "server-outage",
        "none of my websites are loading, is your server down",
        "none of my webistes are loading, is your sever down",
    ),
    (
        "sftp-access",
        "what host and port do I use to connect with filezilla",
        "what host and prot do I use to conect with filezilla",
    ),
    ("site-slow", "my website takes forever to load", "my webiste takes forver to load"),
    (
        "ssl-free-certificate",
        "how do I get https on my site for free",
        "how do I get htps on my site for fre",
    ),
    (
        "ssl-mixed-content",
        "my site has https but the padlock shows a warning",
        "my site has https but the padlok shows a warnig",
    ),
    (
        "ssl-renewal-error",
        "my ssl certificate expired and browsers show a warning",
        "my ssl certifcate expierd and browsers show a warning",
    ),
    (
        "wordpress-install",
        "how do I install wordpress on my domain",
        "how do I instal wordpres on my domain",
    ),
]

# Openers and closers of a polite message (greetings, please, thanks, apologies).
POLITE = [
    "Hi there! Could you please tell me {q}? Thank you",
    "Hello, I hope you're doing well. {Q}? Many thanks in advance!",
    "Good morning, sorry to bother you, but {q}? Thanks so much",
    "Hey team, quick question: {q}? Cheers",
    "Hi, I was wondering if you could help me. {Q}? I'd really appreciate it.",
    "Hello! Apologies if this is a silly question, {q}? Thanks a lot for your help",
    "Good afternoon. Would you be so kind as to tell me {q}? Thank you very much.",
    "Hi!! {Q}?? thanks in advance, you guys are great",
    "Dear support, I would be grateful if you could explain {q}. Kind regards",
    "Hi, hope all is well. Sorry for the trouble, {q}? Thanks again",
]

SIGNED = [
    "Hello,\n\n{Q}?\n\nBest regards,\nMaria Lopez\nLopez Bakery Ltd",
    "Hi support,\n{Q}?\nThanks,\nTom\n\nSent from my iPhone",
    "{Q}?\n\nKind regards\nDr. A. Okafor\nOkafor Dental Clinic | +44 20 7946 0958",
    "Good evening,\n{Q}? Thanks in advance.\n\nCheers,\nJonas\n--\nJonas Berg, Berg Design\nwww.bergdesign.example",
    "Hi,\n\n{Q}? Sorry if this was asked before.\n\nMany thanks,\nPriya (account #48213)",
    "Hello team,\n{Q}?\nRegards,\nKevin O'Brien\nIT Manager\n\nThis email and any attachments are confidential.",
]

LOGS = [
    "{Q}?\n\n[2026-11-28 09:14:02] INFO  request completed in 812ms",
    "2026-11-29T07:45:13Z WARN worker-3 retrying job 5521 (attempt 2)\n{Q}?",
    "{Q}? here is what I see:\nNov 29 10:02:11 web01 systemd[1]: Started Daily apt upgrade and clean activities.\nNov 29 10:02:12 web01 CRON[2231]: (root) CMD (run-parts /etc/cron.hourly)",
    "Hi, {q}?\n\nDEBUG 2026-11-27 23:59:59,001 [main] app.Startup - config loaded from /etc/app/app.yml",
    '{Q}?\n127.0.0.1 - - [29/Nov/2026:10:12:44 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "Mozilla/5.0"',
    "Traceback (most recent call last):\n  File \"/srv/app/main.py\", line 12, in <module>\n    import requests\nModuleNotFoundError: No module named 'requests'\nunrelated, but {q}?",
    "{Q}?\n\n> ping mysite.example\nPING mysite.example (203.0.113.7): 56 data bytes\n64 bytes from 203.0.113.7: icmp_seq=0 ttl=54 time=23.1 ms",
    "[ERROR] 2026-11-28 14:22:07 php-fpm pool www: server reached pm.max_children setting (5)\n{Q}?",
]


# Written after the padding filter (ai/padding.py) was, with wrappers unlike the pools
# above, to check that it generalises: (entry, bare question, whole message).
MIXED = [
    (
        "email-forwarding",
        "how do I forward my business email to my gmail",
        "Yo! so... how do I forward my business email to my gmail?? ta",
    ),
    (
        "dns-nameservers",
        "which nameservers should my domain use",
        "Greetings from Spain :) Which nameservers should my domain use? Have a lovely weekend!",
    ),
    (
        "billing-invoices",
        "where do I download the invoices for last quarter",
        "Hope your week is going well. Our auditor is asking: where do I download the invoices "
        "for last quarter?\n\nBest,\nSam",
    ),
    (
        "error-500",
        "my website shows an internal server error 500",
        "my website shows an internal server error 500\n\n2026/11/29 08:01:17 [error] 1234#0: *5 "
        'FastCGI sent in stderr: "PHP message: PHP Warning" while reading response header',
    ),
    (
        "site-slow",
        "my website takes forever to load",
        "Apologies for the long email, I'll keep it short: my website takes forever to load. "
        "Appreciate any pointers!\n\nSent from Outlook for Android",
    ),
    (
        "account-password-reset",
        "how do I get a new password for the control panel",
        "hello hello, how do I get a new password for the control panel? thank u!!",
    ),
    (
        "ssl-free-certificate",
        "how do I get https on my site for free",
        "Good day to you. How do I get https on my site for free? Warmest regards, Helen",
    ),
    (
        "domain-renewal",
        "how do I renew my domain for another year",
        '{"level":"info","ts":1764403200,"msg":"renewal reminder sent"}\nhow do I renew my '
        "domain for another year?",
    ),
    (
        "email-quota",
        "my mailbox is full and people get bounce messages",
        "Hi folks, my mailbox is full and people get bounce messages. Sorry, I'm not very "
        "technical. Thanks for your patience",
    ),
    (
        "backups-restore-files",
        "I need to get back a folder I removed from my site yesterday",
        "URGENT!! I need to get back a folder I removed from my site yesterday. thank you "
        "thank you thank you",
    ),
    (
        "php-version",
        "how do I change which PHP version my site runs",
        "Hey, hope you're having a good day! How do I change which PHP version my site runs?\n"
        "PS: love the new dashboard",
    ),
    (
        "wordpress-install",
        "how do I install wordpress on my domain",
        "Morning! First time here. How do I install wordpress on my domain? Thanks heaps",
    ),
    (
        "sftp-access",
        "what host and port do I use to connect with filezilla",
        "what host and port do I use to connect with filezilla?\nStatus:\tConnecting to "
        "203.0.113.7:21...\nError:\tConnection timed out after 20 seconds of inactivity",
    ),
    (
        "billing-refunds",
        "can I have my money back for the plan I just bought",
        "Dear Sir or Madam,\n\nCan I have my money back for the plan I just bought?\n\n"
        "Yours faithfully,\nR. Patel",
    ),
    (
        "domain-whois-privacy",
        "how do I hide my home address from the whois lookup",
        "Hiya, how do I hide my home address from the whois lookup? Thx in advance -- Chris",
    ),
    (
        "dns-propagation",
        "I changed my DNS hours ago and the site still shows the old server",
        "Hello again. I changed my DNS hours ago and the site still shows the old server. "
        "Any idea? Thank you kindly.",
    ),
    (
        "cron-jobs",
        "how do I run a script automatically every night",
        "Hi support team! How do I run a script automatically every night?\n\n"
        "Kind regards,\nAnna\nAnna's Pottery | Etsy shop",
    ),
    (
        "account-two-factor",
        "how do I switch on two step login for my account",
        "How do I switch on two step login for my account? 🙏 thanks!",
    ),
]


def _fill(template: str, q: str) -> str:
    return template.format(q=q, Q=q[:1].upper() + q[1:])


def rows() -> list[tuple[str, str, str, str]]:
    """``(text, label, bare, kind)`` for every question."""
    out = []
    for i, (label, bare, typo) in enumerate(BARE):
        out.append((bare, label, bare, "bare"))
        out.append((_fill(POLITE[i % len(POLITE)], bare), label, bare, "polite"))
        out.append((_fill(SIGNED[i % len(SIGNED)], bare), label, bare, "signature"))
        out.append((_fill(LOGS[i % len(LOGS)], bare), label, bare, "log"))
        out.append((typo, label, bare, "typo"))
    out += [(text, label, bare, "mixed") for label, bare, text in MIXED]
    return out


def main() -> None:
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "bare", "kind"])
        w.writerows(rows())
    print(f"wrote {OUT}: {len(BARE)} bare questions, {len(rows())} rows")


if __name__ == "__main__":
    main()
