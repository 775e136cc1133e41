"""Small hand-made legacy CRM exports for the import tests (every rule of issue 11, part 1)."""

from __future__ import annotations

CONDITIONS = """medical conditon id,name,abbreviation
1,Glioblastoma,GBM
2,Amyotrophic lateral sclerosis,ALS
3,Rare Thing,RT
"""

CONTACT_HEADER = (
    "contactid,firstname,lastname,email,phone,medical_condition,contact_type,booking_date,reminder_date,no_show,"
    "hospital,job_title,medical_license_number\n"
)
CONTACTS = CONTACT_HEADER + (
    # a lead who became patient p1 (option set says glioblastoma; the patient's lookup says ALS)
    "c1,Ann,Lee,Ann.Lee@Example.org ,(804) 642-5737,glioblastoma,patient - lead,2023-03-01 10:00,2023-03-08,no,,,\n"
    # a lead who stays a lead
    "c2,Bob,Stone,bob@example.org,,ALS,patient - lead,2023-04-01,2023-04-10,,,,\n"
    # two physicians at one hospital (names differ in case and spaces)
    "c3,Carl,Wu,carl@example.org,+31 20 123 4567,,physician,,,,St. Mary Hospital,Neurologist,L-123\n"
    # a lead without an email, with a phone that does not parse; patient p2 points at it
    "c4,Dana,Ng,,12,,patient - lead,2023-05-01,,yes,,,\n"
    # another contact type: a Person only
    "c5,Eve,Ro,eve@example.org,,,nurse,,,,,,\n"
    # the same human as c1 (email in another case)
    "c6,ANN,LEE,ann.lee@EXAMPLE.org,,,patient - lead,2023-02-01,,,,,\n"
    # a bad row in the middle: its date does not parse
    "c7,Zed,Bad,zed@example.org,,,patient - lead,31/02/2023,,,,,\n"
    "c8,Dr,Who,who@example.org,,,physician,,,,st. mary hospital ,,\n"
    # a condition only the option set knows
    "c9,Ivy,Ash,ivy@example.org,,Moonpox,patient - lead,,,,,,\n"
)

PATIENT_HEADER = (
    "patientid,firstname,lastname,email,contact_record,medical_condition,first_contact_date,initial_consult_date,"
    "trial_id,ct_referral_date,eligible,ineligible_reason,ct_outcome\n"
)
PATIENTS = PATIENT_HEADER + (
    "p1,Ann,Lee,ann.lee@example.org,c1,2,2023-03-05,2023-03-10,NCT01234567,2023-03-20,,,screening ongoing\n"
    "p2,Dana,Ng,dana@example.org,c4,,2023-05-03,,,2023-06-01,no,,\n"
    # a dangling contact_record: matched by email instead
    "p3,Finn,Ox,finn@example.org,c99,1,2022-01-01,,,,,,\n"
    # no email, an unknown lookup id, a malformed NCT id
    "p4,Gil,Ay,,,9,2022-02-02,,NCTbad,,true,,\n"
    # eligible, no referral date: pre-screening
    "p5,Hal,Bo,hal@example.org,,3,2022-03-03,,EUCT-2022-1,,yes,,\n"
)

EAP = """patient,eap_number,product,eap_enrollment_date
p1,EAP-1,Drug A,2023-07-01
p3,EAP-2,Drug B,
p99,EAP-3,Drug C,
"""


def write(folder, *, conditions=CONDITIONS, contacts=CONTACTS, patients=PATIENTS, eap=EAP):
    for name, text in (
        ("medical_condition.csv", conditions),
        ("contact.csv", contacts),
        ("patient.csv", patients),
        ("eap_dossier.csv", eap),
    ):
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder
