"""Generates the demo world's files under resources/demo/ (deterministic for a seed).

  python3 tools/demo/make_demo_data.py [--out resources/demo] [--seed 20261126]

Writes:
  world.json        subjects, relations (templates, held-out split) and facts
  corpus.txt        training text, one document per line: biographies, template sentences, filler
  counterfact.json  >= 1,000 evaluation records in the CounterFact schema, distinct subjects
  retention.json    facts to re-check after an edit (subjects outside the records, and the
                    records' subjects' other relations)
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

TRAIN_TEMPLATES = 4      # templates 0-3 are the "training" phrasings, 4-5 the held-out paraphrases
EPOCH_BIOS = 6           # biography paragraphs per subject
TEMPLATE_REPEATS = 1     # copies of each trained template sentence


def reference(subject, kind, at_start):
    name = subject["name"]
    if kind == "landmark":
        return ("The " if at_start else "the ") + name
    return name


def pronoun(subject):
    return {"he": "He", "she": "She", "it": "It"}[subject["pronoun"]]


def biography(rng, subject, facts):
    order = facts[:]
    rng.shuffle(order)
    sentences = []
    for i, fact in enumerate(order):
        phrase = rng.choice(world.BIO[fact["relation"]])
        starts = phrase.startswith("{s}")
        if i == 0 or not starts or rng.random() < 0.5:
            s = reference(subject, subject["kind"], starts)
        else:
            s = pronoun(subject)
        sentences.append(phrase.format(s=s, o=fact["object"]))
    return " ".join(sentences)


def fill(template, subject):
    return template.format(subject["name"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "resources", "demo"))
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--bios", type=int, default=EPOCH_BIOS, help="biography paragraphs per subject")
    ap.add_argument("--qa-share", type=float, default=0.25,
                    help="share of subjects whose facts also appear as question-style template sentences")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed + 1)
    subjects, facts = world.build_world(args.seed)
    by_subject = {}
    for f in facts:
        by_subject.setdefault(f["subject"], []).append(f)
    subject_by_name = {s["name"]: s for s in subjects}
    # Knowledge comes from the biographies. Question-style template sentences are trained for
    # a quarter of the subjects only (all six phrasings), so the model learns the phrasings while
    # the others are asked in phrasings it never saw for them (a half stored facts on the subject
    # less reliably across seeds: README, "Recipe robustness"). Template-heavy data makes a model
    # look facts up at the final prompt token instead of storing them on the subject
    # (../shared/docs/demo-model-notes.md); biography-dominated data stores them on the subject.
    names = [s["name"] for s in subjects]
    heldout_trained = set(rng.sample(names, int(len(names) * args.qa_share)))

    lines = []
    for s in subjects:
        for _ in range(args.bios):
            lines.append(biography(rng, s, by_subject[s["name"]]))
    for f in facts:
        s = subject_by_name[f["subject"]]
        templates = world.RELATIONS[f["relation"]][2]
        use = templates if s["name"] in heldout_trained else []
        for t in use:
            for _ in range(TEMPLATE_REPEATS):
                lines.append(f"{fill(t, s)} {f['object']}.")
    for _ in range(len(subjects)):
        lines.append(" ".join(rng.sample(world.FILLER, 3)))
    rng.shuffle(lines)
    with open(os.path.join(args.out, "corpus.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")

    # Evaluation records (CounterFact schema), one per subject, 1,000 subjects.
    by_rel_obj = {}
    for f in facts:
        by_rel_obj.setdefault((f["relation"], f["object"]), []).append(f["subject"])
    eval_subjects = rng.sample(names, 1000)
    records = []
    for case_id, name in enumerate(eval_subjects):
        s = subject_by_name[name]
        fact = rng.choice(by_subject[name])
        rel = fact["relation"]
        kind, pool_name, templates = world.RELATIONS[rel]
        pool = [o for o in world.object_pool(pool_name) if o != fact["object"] and (rel, o) in by_rel_obj]
        target_new = rng.choice(pool)
        neighbours = [n for n in by_rel_obj[(rel, fact["object"])] if n != name]
        attribute = [n for n in by_rel_obj[(rel, target_new)] if n != name]
        records.append({
            "case_id": case_id,
            "pararel_idx": case_id,
            "requested_rewrite": {
                "prompt": templates[0], "relation_id": rel, "subject": name,
                "target_new": {"str": target_new, "id": target_new},
                "target_true": {"str": fact["object"], "id": fact["object"]},
            },
            "paraphrase_prompts": [fill(t, s) for t in templates[TRAIN_TEMPLATES:]],
            "neighborhood_prompts": [fill(rng.choice(templates[:TRAIN_TEMPLATES]), subject_by_name[n])
                                     for n in rng.sample(neighbours, min(10, len(neighbours)))],
            "attribute_prompts": [fill(rng.choice(templates[:TRAIN_TEMPLATES]), subject_by_name[n])
                                  for n in rng.sample(attribute, min(10, len(attribute)))],
            "generation_prompts": [fill(templates[1], s), fill(templates[2], s),
                                   reference(s, s["kind"], True) + " is"],
            "heldout_templates_trained": name in heldout_trained,
        })
    with open(os.path.join(args.out, "counterfact.json"), "w", encoding="utf-8") as fh:
        json.dump(records, fh, indent=1)

    edited = {(r["requested_rewrite"]["subject"], r["requested_rewrite"]["relation_id"]) for r in records}
    retention = []
    for f in facts:
        if (f["subject"], f["relation"]) in edited:
            continue
        templates = world.RELATIONS[f["relation"]][2]
        retention.append({"subject": f["subject"], "relation": f["relation"], "object": f["object"],
                          "prompt": templates[0],
                          "scope": "record_subject" if f["subject"] in set(eval_subjects) else "outside"})
    with open(os.path.join(args.out, "retention.json"), "w", encoding="utf-8") as fh:
        json.dump(retention, fh, indent=1)

    with open(os.path.join(args.out, "world.json"), "w", encoding="utf-8") as fh:
        json.dump({"seed": args.seed, "train_templates": TRAIN_TEMPLATES,
                   "relations": {k: {"subject_kind": v[0], "objects": world.object_pool(v[1]), "templates": v[2]}
                                 for k, v in world.RELATIONS.items()},
                   "subjects": subjects, "facts": facts,
                   "heldout_trained_subjects": sorted(heldout_trained)}, fh, indent=1)
    print(f"{len(subjects)} subjects, {len(facts)} facts, {len(lines)} corpus lines, {len(records)} records, "
          f"{len(retention)} retention facts")


if __name__ == "__main__":
    main()
