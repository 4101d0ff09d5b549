"""Sentences the simulated IVR, agents and customers say (plain data, no logic).

``{slot}`` placeholders are filled by the generator from ``SLOTS``. Text is lower case
without punctuation, as a speech recogniser emits it; the generator decorates it.
"""

from __future__ import annotations

COMPANIES = ("acme energy", "northwind bank", "contoso mobile", "fabrikam insurance")

IVR_WELCOME = (
    "thank you for calling {company} this call may be recorded for quality and training",
    "welcome to {company} calls are recorded to help us improve our service",
)
IVR_MENU = (
    "please tell us in a few words the reason for your call",
    "for billing say billing for technical support say support or say agent",
)
IVR_CONNECT = (
    "thank you please hold while we connect you to the next available agent",
    "thanks we are connecting you to an agent your call is important to us",
)
CUSTOMER_TO_IVR = ("billing", "agent", "technical support", "my bill", "speak to someone")

AGENT_GREETING = (
    "hello thank you for calling {company} my name is {agent} how can i help you today",
    "good morning you are through to {agent} at {company} what can i do for you",
    "hi this is {agent} thanks for waiting how can i help",
)
CUSTOMER_OPENING = (
    "hi yes i am calling about my last bill it looks much higher than usual",
    "hello my card was declined yesterday and i do not know why",
    "hi i moved house last week and i need to update my address",
    "yes hello my internet has been dropping every evening since monday",
    "hi i would like to cancel the extra package on my account",
    "hello i never received the replacement card you sent",
    "hi i think i was charged twice for the same order",
)
AGENT_VERIFY = (
    "i can help with that can i have your account number please",
    "of course first could you confirm your full name and date of birth",
    "sure let me pull up your account can you confirm the postcode",
)
CUSTOMER_VERIFY = (
    "yes it is {digits}",
    "sure my account number is {digits}",
    "it is {name} and my date of birth is the {day} of {month}",
    "the postcode is {postcode}",
)
AGENT_BODY = (
    "thank you i can see the account here",
    "let me just check what happened with that payment",
    "i can see a charge of {amount} on the {day} of {month}",
    "that was applied because the promotional rate ended last month",
    "i have raised a ticket for our technical team they will call you back",
    "i can refund that to your card it should arrive in three to five working days",
    "the new address will be used from the next statement",
    "is the phone number we have on file still correct",
    "could you try restarting the router for me while we are on the line",
    "i am going to apply a credit of {amount} to the account",
    "you will get a confirmation email in the next few minutes",
    "the order shows as dispatched on the {day} of {month}",
    "i understand that is frustrating let me see what i can do",
)
CUSTOMER_BODY = (
    "okay that makes sense",
    "i did not know the promotion had ended nobody told me",
    "yes that is the right number",
    "so when will i see the money back",
    "the router is restarting now the lights are flashing",
    "can you send that to me in writing please",
    "i have been a customer for {years} years so i expected better",
    "right and will that happen again next month",
    "no the email address is different now it is {name} at example dot com",
    "that is fine thank you for sorting it out",
    "sorry could you repeat that last part",
    "i was on hold for a long time before getting through",
)
AGENT_HOLD = (
    "let me put you on a brief hold while i check that",
    "bear with me i will just place you on hold for a moment",
)
AGENT_RESUME = (
    "thank you for holding",
    "thanks for waiting i have the details now",
)
AGENT_CLOSING = (
    "is there anything else i can help you with today",
    "thank you for calling {company} have a lovely day",
)
CUSTOMER_CLOSING = (
    "no that is everything thanks for your help",
    "no that is all bye",
    "great thank you bye bye",
)
BACKCHANNELS = ("mm-hm", "right", "okay", "yeah", "uh-huh", "i see", "sure")

SLOTS: dict[str, tuple[str, ...]] = {
    "company": COMPANIES,
    "agent": ("sam", "priya", "jordan", "maria", "tom", "aisha", "lukas", "mei"),
    "name": ("alex smith", "jamie jones", "chris brown", "pat taylor", "robin lee"),
    "digits": (
        "four seven two nine one eight",
        "one one three five eight two",
        "nine zero six four four one",
    ),
    "day": ("third", "twelfth", "twenty first", "first", "fifteenth"),
    "month": ("may", "june", "october", "march", "november"),
    "postcode": ("s w one a one a a", "e c two a four b x", "m one one a e"),
    "amount": ("forty two pounds", "twelve ninety nine", "one hundred and five dollars"),
    "years": ("three", "ten", "fifteen"),
}

# --------------------------------------------------------------------------- call flow

ACD_COMFORT = (
    "all of our agents are busy please stay on the line your call will be answered shortly",
    "you are in a queue please continue to hold",
)
AGENT_CALLBACK_GREETING = (
    "hello this is {agent} from {company} returning your call",
    "hi it is {agent} at {company} you asked us to call you back",
)
AGENT_BLIND_TRANSFER = (
    "i am going to transfer you to the right team please stay on the line",
    "let me put you through to a colleague who can help with that",
)
AGENT_CONSULT = (
    "let me check with a colleague i will put you on hold for a moment",
    "i need to speak to my supervisor please hold the line",
)
AGENT_CONFERENCE = (
    "i am going to bring a colleague into the call",
    "let me add a specialist to this call",
)
AGENT_TRANSFER_GREETING = (
    "hi this is {agent} my colleague has explained the situation",
    "hello you are through to {agent} i have the notes from my colleague",
)
AGENT_CONFERENCE_HELLO = (
    "hi it is {agent} joining the call",
    "hello this is {agent} i can help with that",
)
AGENT_CONFERENCE_LEAVE = (
    "i will leave you with my colleague now thank you",
    "i will drop off the call now my colleague will take it from here",
)
AGENT_PAUSE = (
    "i will pause the recording while you give me the card details",
    "for your security the recording is paused while you read the card number",
)
CUSTOMER_CARD = (
    "the card number is four four one two {digits}",
    "it is {digits} expiry {month}",
)
AGENT_PAUSED_ACK = ("thank you", "got that thanks")
AGENT_UNPAUSE = (
    "thank you the payment has gone through and the recording has resumed",
    "that is all done the recording is back on",
)

#: Agents (first and last name; the greeting uses the first name, lower case) and queues.
AGENT_NAMES = (
    "Sam Carter", "Priya Shah", "Jordan Lee", "Maria Garcia", "Tom Becker", "Aisha Khan",
    "Lukas Novak", "Mei Chen", "Omar Haddad", "Nina Petrova", "Diego Ramos", "Grace Okafor",
)
QUEUE_NAMES = (
    "Billing", "Technical Support", "Sales", "Retentions", "Card Services", "Moves",
    "Complaints", "General Enquiries",
)
IVR_NAME = "Main IVR"
#: Names shown in call events, never spoken (so not held to the recogniser's lower case).
NOT_SPOKEN = ("AGENT_NAMES", "QUEUE_NAMES", "IVR_NAME", "WRAPUP_CODES", "NOT_SPOKEN")
#: Wrap-up codes an agent picks at the end of after-call work, with a note.
WRAPUP_CODES = (
    ("billing-query", "explained the charge"),
    ("refund-issued", "refund raised to card"),
    ("technical-fault", "ticket raised for engineer"),
    ("address-change", "address updated"),
    ("cancellation", "package removed"),
    ("transferred", "passed to colleague"),
)
