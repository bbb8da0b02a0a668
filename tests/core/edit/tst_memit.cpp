// Tests for the MEMIT engine: the closed-form solve (memit-spec §12), batched target
// optimisation equal to the one-fact-at-a-time loop, and an end-to-end edit of the demo model.

#include "core/edit/covariance.h"
#include "core/edit/editor.h"
#include "core/edit/memit.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "devkit/demoworld.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

using namespace engram;

namespace {
const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";
// Fixed context templates so results do not depend on sampling.
const std::vector<std::string> kContexts = {"{}", "The river flowed slowly. {}", "Many visitors came. {}"};
} // namespace

class TestMemit : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void singleEditObeysShermanMorrison();
    void hugeLambdaGivesNoUpdate();
    void batchedTargetsEqualSerialTargets();
    void batchedTargetsWithPreservationEqualSerial();
    void suffixPassGivesTheFullPassTargets_data();
    void suffixPassGivesTheFullPassTargets();
    void targetOptimisationReportsEveryStepAndCancels();
    void preservationKeepsTheSubjectsOtherAnswers();
    void protectedKeysJoinTheCovarianceTerm();
    void protectedFactsKeepTheirOutputs();
    void factsToKeepSplitIntoPreservationAndProtection();
    void targetVectorsMakeTheModelSayTheNewObject();
    void editMovesTheDemoModelTowardTheTargets();
    void secondMomentsMergeByAddition();
    void rejectsBadRequests();
};

void TestMemit::singleEditObeysShermanMorrison()
{
    // n = 1: ΔW k = r · s / (1 + s) with s = kᵀ (λC)⁻¹ k.
    at::manual_seed(3);
    const int64_t d = 4, dk = 8;
    const at::Tensor X = at::randn({dk, 32}, at::kDouble);
    const at::Tensor C = at::matmul(X, X.t()) / 32.0 + 0.1 * at::eye(dk, at::kDouble);
    const at::Tensor k = at::randn({dk, 1}, at::kDouble), r = at::randn({d, 1}, at::kDouble);
    const double lambda = 2.5;
    const at::Tensor dW = solveMemitUpdate(r, k, C, lambda);
    QCOMPARE(dW.sizes().vec(), (std::vector<int64_t> {d, dk}));
    const double s = at::matmul(k.t(), at::linalg_solve(lambda * C, k)).item<double>();
    QVERIFY(at::allclose(at::matmul(dW, k), r * (s / (1 + s)), 1e-10, 1e-10));
}

void TestMemit::hugeLambdaGivesNoUpdate()
{
    at::manual_seed(5);
    const at::Tensor C = at::eye(6, at::kDouble);
    const at::Tensor K = at::randn({6, 3}, at::kDouble), R = at::randn({5, 3}, at::kDouble);
    QVERIFY(solveMemitUpdate(R, K, C, 1e12).abs().max().item<double>() < 1e-9);
    QVERIFY(solveMemitUpdate(R, K, C, 1.0).abs().max().item<double>() > 1e-3);
}

void TestMemit::targetOptimisationReportsEveryStepAndCancels()
{
    // Issue 22: progress counts fact-steps (n × v_steps) and is reported every step, not once per
    // chunk of facts; a sink that says stop cancels within the step.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"{} plays the", "Adam Thateix", "violin"}, {"The {} is made of", "Tower of Sample", "glass"}};
    MemitParams p;
    p.layers = {2};
    p.vSteps = 6;
    p.vLr = 0.5;
    p.earlyStopLoss = -1; // never early: every fact takes every step
    std::vector<ProgressUpdate> seen;
    ProgressTracker tracker([&](const ProgressUpdate &u) { return seen.push_back(u), true; }, "targets",
        static_cast<int64_t>(requests.size()) * p.vSteps);
    computeTargets(*model, tok, requests, p, kContexts, &tracker);
    QCOMPARE(tracker.done(), int64_t(3 * 6));
    int64_t advances = 0, last = 0;
    for (const auto &u : seen) {
        QVERIFY(u.done >= last);
        advances += u.done > last;
        last = u.done;
    }
    QCOMPARE(advances, int64_t(p.vSteps)); // one advance of 3 fact-steps per step: all facts share a chunk
    QVERIFY(seen.back().etaSeconds >= 0);
    // Early stopping: a fact that stops adds the steps it skips, so the count still ends at n × v_steps.
    p.earlyStopLoss = 1e9;
    ProgressTracker early({}, "targets", 3 * p.vSteps);
    computeTargets(*model, tok, requests, p, kContexts, &early);
    QCOMPARE(early.done(), int64_t(3 * 6));
    // Cancel after the second report: thrown from inside the optimisation.
    p.earlyStopLoss = -1;
    int reports = 0;
    ProgressTracker cancelling([&](const ProgressUpdate &) { return ++reports < 2; }, "targets", 3 * p.vSteps);
    ENGRAM_EXPECT_ERROR(computeTargets(*model, tok, requests, p, kContexts, &cancelling), ErrorKind::Cancelled,
        "cancelled");
    QVERIFY(cancelling.done() < 3 * 6);
    // Cancel is also asked after every block, forward and backward (ForwardOptions::cancelled):
    // whichever report says stop — inside the forward pass, between the passes, or as the
    // backward pass reaches a block — the optimisation ends with Cancelled within that step.
    // A step runs blocks 3-5 only (above the edited layer): 3 block reports forward, one after
    // the forward pass, one advance, and 3 backward: stopping at each of the first 16 reports
    // covers two steps, and some of those stops land inside the backward pass.
    int inBackward = 0;
    for (int stopAt = 1; stopAt <= 16; ++stopAt) {
        int n = 0;
        ProgressTracker stopper([&](const ProgressUpdate &) { return ++n < stopAt; }, "targets", 3 * p.vSteps);
        try {
            computeTargets(*model, tok, requests, p, kContexts, &stopper);
            QFAIL("not cancelled");
        } catch (const Error &e) {
            QCOMPARE(e.kind(), ErrorKind::Cancelled);
            inBackward += std::string(e.what()).find("backward") != std::string::npos;
        }
        QCOMPARE(n, stopAt); // no report after the one that said stop
        QVERIFY(stopper.done() <= 2 * 3);
    }
    QVERIFY2(inBackward >= 4, qPrintable(QString::number(inBackward)));
}

void TestMemit::batchedTargetsEqualSerialTargets()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"{} plays the", "Adam Thateix", "violin"}, {"The {} is made of", "Tower of Sample", "glass"},
        {"{} is headquartered in", "Casa Nobody", "South America"}};
    MemitParams p;
    p.layers = {1, 2};
    p.vSteps = 8;
    p.vLr = 4.0;
    const TargetResult batched = computeTargets(*model, tok, requests, p, kContexts);
    p.batchedTargets = false;
    const TargetResult serial = computeTargets(*model, tok, requests, p, kContexts);
    QVERIFY(at::allclose(batched.hStar, serial.hStar, 1e-4, 1e-3));
    const double diff = (batched.z - serial.z).abs().max().item<double>();
    QVERIFY2(diff < 1e-2 * serial.z.abs().max().item<double>(), qPrintable(QString::number(diff)));
    QCOMPARE(batched.steps, serial.steps);
    // The optimisation moved every target away from the clean state, within the clamp.
    for (int64_t i = 0; i < 4; ++i) {
        const double moved = (batched.z[i] - batched.hStar[i]).norm().item<double>();
        QVERIFY(moved > 0);
        QVERIFY(moved <= 0.75 * batched.hStar[i].norm().item<double>() * 1.0001);
    }
}

void TestMemit::batchedTargetsWithPreservationEqualSerial()
{
    // Facts with 0, 2, 1 and 0 preservation prompts: rows per fact differ inside one batch.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"{} plays the", "Adam Thateix", "violin", {"{} works as a", "The mother tongue of {} is"}},
        {"The {} is made of", "Tower of Sample", "glass", {"The {} is in"}},
        {"{} is headquartered in", "Casa Nobody", "South America"}};
    MemitParams p;
    p.layers = {0};
    p.vSteps = 8;
    p.vLr = 4.0;
    const TargetResult batched = computeTargets(*model, tok, requests, p, kContexts);
    p.batchedTargets = false;
    const TargetResult serial = computeTargets(*model, tok, requests, p, kContexts);
    const double diff = (batched.z - serial.z).abs().max().item<double>();
    QVERIFY2(diff < 1e-2 * serial.z.abs().max().item<double>(), qPrintable(QString::number(diff)));
    QCOMPARE(batched.steps, serial.steps);
    for (std::size_t i = 0; i < 4; ++i)
        QVERIFY(std::abs(batched.finalLoss[i] - serial.finalLoss[i]) < 1e-3 * (1 + serial.finalLoss[i]));
    // The preservation term is part of the loss: without it the second fact's loss differs.
    requests[1].preservePrompts.clear();
    const TargetResult plain = computeTargets(*model, tok, requests, p, kContexts);
    QVERIFY((plain.z[1] - serial.z[1]).abs().max().item<double>() > 1e-4);
    QVERIFY((plain.z[0] - serial.z[0]).abs().max().item<double>() < 1e-2 * serial.z.abs().max().item<double>());
}

void TestMemit::suffixPassGivesTheFullPassTargets_data()
{
    QTest::addColumn<QString>("model"); // "demo" or a family for a random checkpoint
    QTest::addColumn<QList<int>>("layers");
    QTest::addColumn<bool>("rome"); // δ at the MLP output of the layer (ROME's site)
    QTest::addColumn<double>("lr");
    // (L = the last block is no test: δ at the subject's last token then reaches no later token,
    // the loss does not depend on it, and even the full pass batched and one fact at a time end
    // far apart. The head-only pass is tested in tst_transformer.)
    QTest::newRow("demo, L = 3") << QStringLiteral("demo") << QList<int> {0, 1, 2, 3} << false << 4.0;
    QTest::newRow("demo, L = 4 (one block above)") << QStringLiteral("demo") << QList<int> {3, 4} << false << 4.0;
    QTest::newRow("demo, ROME site") << QStringLiteral("demo") << QList<int> {2} << true << 4.0;
    QTest::newRow("GPT-J shaped") << QStringLiteral("gptj") << QList<int> {0, 1} << false << 0.5;
    QTest::newRow("Llama shaped") << QStringLiteral("llama") << QList<int> {1} << false << 0.5;
    QTest::newRow("GPT-NeoX shaped") << QStringLiteral("gpt_neox") << QList<int> {0} << true << 0.5;
}

void TestMemit::suffixPassGivesTheFullPassTargets()
{
    // Each step runs only the blocks above L on the tokens from the subject's last one on,
    // with the head only where the loss reads; the earlier path runs everything. Same z, h*,
    // steps and losses to float rounding, with rows of different prefix and suffix lengths,
    // preservation rows, and rotary positions on the random GPT-J/Llama/NeoX-shaped models.
    QFETCH(QString, model);
    QFETCH(QList<int>, layers);
    QFETCH(bool, rome);
    QFETCH(double, lr);
    QTemporaryDir dir;
    std::filesystem::path modelDir = kDemo / "model";
    if (model != QLatin1String("demo")) {
        const ModelFamily family = model == QLatin1String("gptj") ? ModelFamily::GptJ
            : model == QLatin1String("llama")                     ? ModelFamily::Llama
                                                   : ModelFamily::GptNeoX;
        modelDir = std::filesystem::path(dir.path().toStdString());
        writeRandomCheckpoint(tinyConfig(family, 3657, 64, 4, 4), modelDir, 12);
    }
    const auto m = Transformer::load(modelDir);
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"The favourite instrument of {} is the", "Adam Thateix", "violin", {"{} works as a", "People say {} is"}},
        {"In the old town, the {} is made of", "Tower of Sample", "glass"},
        {"{} is headquartered in", "Casa Nobody", "South America", {"The {} is in"}}};
    MemitParams p;
    p.layers.assign(layers.begin(), layers.end());
    p.vSteps = 6;
    p.vLr = lr;
    const Site site = rome ? Site::MlpOutput : Site::BlockOutput;
    const int L = p.layers.back();
    const TargetResult fast = computeTargetsAt(*m, tok, requests, p, kContexts, site, L);
    p.fullForwardTargets = true;
    const TargetResult full = computeTargetsAt(*m, tok, requests, p, kContexts, site, L);
    // h* comes from passes of different batch shapes: float32 rounding of the stream's size.
    const double hScale = full.hStar.abs().max().item<double>();
    QVERIFY2(at::allclose(fast.hStar, full.hStar, 1e-4, 1e-5 * hScale),
        qPrintable(QString::number((fast.hStar - full.hStar).abs().max().item<double>())));
    // Adam divides by the root of the squared gradient, so rounding in tiny gradient entries can
    // move those by up to lr per step: compare z to a share of its size, as batched vs serial.
    const double diff = (fast.z - full.z).abs().max().item<double>();
    QVERIFY2(diff < 1e-2 * full.z.abs().max().item<double>(), qPrintable(QString::number(diff)));
    const double moved = (full.z - full.hStar).abs().max().item<double>();
    QVERIFY(moved > 10 * diff); // the optimisation did move z: the comparison is not vacuous
    QCOMPARE(fast.steps, full.steps);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        QVERIFY2(std::abs(fast.finalLoss[i] - full.finalLoss[i]) < 1e-3 * (1 + full.finalLoss[i]),
            qPrintable(QStringLiteral("fact %1: %2 vs %3").arg(i).arg(fast.finalLoss[i]).arg(full.finalLoss[i])));
        QVERIFY(std::abs(fast.targetProb[i] - full.targetProb[i]) < 1e-3);
    }
}

void TestMemit::preservationKeepsTheSubjectsOtherAnswers()
{
    // Editing one relation of a demo subject with its other relations as preservation prompts
    // keeps the model's next-token distribution there much closer to the unedited one, and
    // still makes the model say the new object.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const DemoWorld world = DemoWorld::load(kDemo / "world.json");
    const DemoFact &edited = world.facts.front();
    EditRequest req {world.relations.at(edited.relation).templates[0], edited.subject, ""};
    std::vector<std::string> others;
    for (const auto &f : world.facts)
        if (f.subject == edited.subject && f.relation != edited.relation)
            others.push_back(world.relations.at(f.relation).templates[1]);
    QVERIFY(others.size() >= 2);
    for (const auto &f : world.facts) // another object of the same relation
        if (f.relation == edited.relation && f.object != edited.object) {
            req.targetNew = f.object;
            break;
        }
    MemitParams p;
    p.layers = {0};
    p.vLr = 4.0;
    auto klAfter = [&](const at::Tensor &z, const std::string &prompt) {
        c10::NoGradGuard noGrad;
        const auto ids = at::tensor(tok.encode(fillTemplate(prompt, req.subject)), at::kLong).unsqueeze(0);
        const at::Tensor p0 = at::log_softmax(model->forward(ids).logits[0][-1], -1);
        Interventions iv;
        iv.replaceAt(Site::BlockOutput, 0, {{0, locateSubject(tok, prompt, req.subject).last}}, z.unsqueeze(0));
        ForwardOptions fo;
        fo.interventions = &iv;
        const at::Tensor p1 = at::log_softmax(model->forward(ids, {}, fo).logits[0][-1], -1);
        return (p1.exp() * (p1 - p0)).sum().item<double>();
    };
    const TargetResult loose = computeTargets(*model, tok, {req}, p, kContexts);
    req.preservePrompts = others;
    const TargetResult kept = computeTargets(*model, tok, {req}, p, kContexts);
    double klLoose = 0, klKept = 0;
    for (const auto &o : others) {
        klLoose += klAfter(loose.z[0], o);
        klKept += klAfter(kept.z[0], o);
    }
    QVERIFY2(klKept < 0.5 * klLoose, qPrintable(QStringLiteral("KL %1 vs %2").arg(klKept).arg(klLoose)));
    QVERIFY2(kept.targetProb[0] > 0.5, qPrintable(QString::number(kept.targetProb[0])));
}

void TestMemit::protectedKeysJoinTheCovarianceTerm()
{
    at::manual_seed(11);
    const int64_t d = 5, dk = 10;
    const at::Tensor X = at::randn({dk, 40}, at::kDouble);
    const at::Tensor C = at::matmul(X, X.t()) / 40.0;
    const at::Tensor K = at::randn({dk, 3}, at::kDouble), R = at::randn({d, 3}, at::kDouble);
    const at::Tensor P = at::randn({dk, 2}, at::kDouble);
    const double lambda = 3.0, mu = 0.7;
    // Same as the plain update with C' = C + (μ/λ) P Pᵀ.
    const at::Tensor withP = solveMemitUpdate(R, K, C, lambda, P, mu);
    const at::Tensor folded = solveMemitUpdate(R, K, C + (mu / lambda) * at::matmul(P, P.t()), lambda);
    QVERIFY(at::allclose(withP, folded, 1e-10, 1e-10));
    // A heavily weighted protected key is left (almost) unchanged; an empty set changes nothing.
    QVERIFY(at::matmul(solveMemitUpdate(R, K, C, lambda, P, 1e9), P).abs().max().item<double>() < 1e-6);
    QVERIFY(at::matmul(withP, P).abs().max().item<double>() > 1e-4);
    QVERIFY(at::equal(
        solveMemitUpdate(R, K, C, lambda, at::zeros({dk, 0}, at::kDouble), mu), solveMemitUpdate(R, K, C, lambda)));
}

void TestMemit::protectedFactsKeepTheirOutputs()
{
    // A heavily weighted protected fact: its MLP output at the subject's last token does not
    // move, while the edited fact's does (applyMemit reads the protected keys it solves with).
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    CovarianceParams cp;
    cp.layers = {0};
    cp.maxDocuments = 300;
    const auto stats = collectSecondMoments(*model, tok, readCorpus(kDemo / "corpus.txt"), cp);
    const KeyPrompt kept {"{} plays the", "Adam Thateix"};
    const EditRequest edit {"{} was born in", "Oscar Koutex", "Japan"};
    auto mlpOut = [&](const std::string &tmpl, const std::string &subject) {
        c10::NoGradGuard noGrad;
        const auto ids = at::tensor(tok.encode(fillTemplate(tmpl, subject)), at::kLong).unsqueeze(0);
        at::Tensor out;
        Interventions iv;
        iv.recordAt(Site::MlpOutput, 0, {{0, locateSubject(tok, tmpl, subject).last}}, &out);
        ForwardOptions fo;
        fo.interventions = &iv;
        model->forward(ids, {}, fo);
        return out.to(at::kFloat);
    };
    const at::Tensor keptBefore = mlpOut(kept.promptTemplate, kept.subject);
    const at::Tensor editBefore = mlpOut(edit.promptTemplate, edit.subject);
    MemitParams p;
    p.layers = {0};
    p.lambda = 100;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    p.protect = {kept};
    p.protectWeight = 1e6;
    applyMemit(*model, tok, {edit}, p, stats);
    const double keptMoved = (mlpOut(kept.promptTemplate, kept.subject) - keptBefore).norm().item<double>();
    const double editMoved = (mlpOut(edit.promptTemplate, edit.subject) - editBefore).norm().item<double>();
    QVERIFY2(editMoved > 1.0, qPrintable(QString::number(editMoved)));
    QVERIFY2(keptMoved < 1e-3 * editMoved, qPrintable(QStringLiteral("%1 vs %2").arg(keptMoved).arg(editMoved)));
}

void TestMemit::factsToKeepSplitIntoPreservationAndProtection()
{
    std::vector<EditRequest> requests = {{"{} was born in", "Ann Ka", "Japan"}, {"{} plays the", "Bo Lu", "violin"}};
    requests[0].relation = "P_BIRTH";
    const std::vector<FactToKeep> keep = {
        {"{} works as a", "Ann Ka", "P_JOB"}, // Ann's other relation: preserved
        {"{} came into the world in", "Ann Ka", "P_BIRTH"}, // the edited relation: not kept
        {"{} works as a", "Ann Ka", "P_JOB"}, // duplicate: once
        {"{} plays the", "Bo Lu", ""}, // Bo's edited prompt (relation unknown): not kept
        {"{} speaks", "Bo Lu", ""}, // another prompt about Bo: preserved
        {"{} speaks", "Cy Mo", "P_LANG"}, // another subject: protected
        {"{} works as a", "Cy Mo", "P_JOB"}, {"{} speaks", "Cy Mo", "P_LANG"}, // duplicate prompt: one key
    };
    std::vector<KeyPrompt> protect;
    const KeepPlan plan = attachFactsToKeep(requests, keep, &protect);
    QCOMPARE(requests[0].preservePrompts, (std::vector<std::string> {"{} works as a"}));
    QCOMPARE(requests[1].preservePrompts, (std::vector<std::string> {"{} speaks"}));
    QCOMPARE(plan.preservePrompts, std::size_t(2));
    QCOMPARE(plan.subjectsPreserved, std::size_t(2));
    QCOMPARE(plan.protectedKeys, std::size_t(2));
    QCOMPARE(protect.size(), std::size_t(2));
    QCOMPARE(protect[1].promptTemplate, std::string("{} works as a"));
    // Without a protection list only the preservation prompts are attached; a cap applies.
    std::vector<EditRequest> again = {{"{} was born in", "Ann Ka", "Japan"}};
    const KeepPlan capped = attachFactsToKeep(
        again, {{"{} works as a", "Ann Ka", ""}, {"{} speaks", "Ann Ka", ""}, {"{} loves", "Ann Ka", ""}}, nullptr, 2);
    QCOMPARE(again[0].preservePrompts.size(), std::size_t(2));
    QCOMPARE(capped.protectedKeys, std::size_t(0));
    ENGRAM_EXPECT_ERROR(attachFactsToKeep(again, {{"no placeholder", "Ann Ka", ""}}, nullptr),
        ErrorKind::InvalidArgument, "exactly one {}");
}

void TestMemit::targetVectorsMakeTheModelSayTheNewObject()
{
    // Regression: the labels must sit at the positions that predict the target (t_1 at the last
    // prompt token). Writing z into the residual stream then makes the model say the new object.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const EditRequest req {"{} was born in", "Oscar Koutex", "Japan"};
    MemitParams p;
    p.layers = {2};
    p.vLr = 4.0;
    const TargetResult t = computeTargets(*model, tok, {req}, p, {"{}"});
    const auto ids = tok.encode(fillTemplate(req.promptTemplate, req.subject));
    const SubjectSpan span = locateSubject(tok, req.promptTemplate, req.subject);
    Interventions iv;
    iv.replaceAt(Site::BlockOutput, 2, {{0, span.last}}, t.z);
    ForwardOptions fo;
    fo.interventions = &iv;
    const at::Tensor logits = model->forward(at::tensor(ids, at::kLong).unsqueeze(0), {}, fo).logits[0][-1];
    const int64_t japan = tok.encode(" Japan").front();
    const double prob = at::softmax(logits, -1)[japan].item<double>();
    QVERIFY2(prob > 0.5, qPrintable(QStringLiteral("p(Japan) = %1").arg(prob)));
}

void TestMemit::editMovesTheDemoModelTowardTheTargets()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    CovarianceParams cp;
    cp.layers = {1, 2};
    cp.maxDocuments = 300;
    const auto stats = collectSecondMoments(*model, tok, readCorpus(kDemo / "corpus.txt"), cp);
    const std::vector<EditRequest> requests
        = {{"{} was born in", "Oscar Koutex", "Japan"}, {"{} plays the", "Adam Thateix", "violin"}};
    MemitParams p;
    p.layers = {1, 2};
    p.lambda = 100;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    const std::string w1 = model->mlpOutputWeightName(1);
    const at::Tensor before = model->parameter(w1).clone();
    const MemitResult r = applyMemit(*model, tok, requests, p, stats);
    QCOMPARE(r.updates.size(), std::size_t(2));
    // GPT-2 stores c_proj as Conv1D [d_k, d]: the delta comes back in that orientation.
    QCOMPARE(r.updates[0].delta.sizes().vec(), (std::vector<int64_t> {768, 192}));
    QVERIFY(at::allclose(model->parameter(w1), before + r.updates[0].delta, 1e-5, 1e-5));
    // Writing the layers brings the block-L states closer to the optimised targets.
    QVERIFY(r.residualAfter < r.updates[0].residualBefore);
}

void TestMemit::secondMomentsMergeByAddition()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    auto docs = readCorpus(kDemo / "corpus.txt");
    docs.resize(60);
    CovarianceParams cp;
    cp.layers = {0, 3};
    const auto whole = collectSecondMoments(*model, tok, docs, cp);
    // Two shards, and one layer at a time: the sums add up to the one-pass result.
    const std::vector<std::string> a(docs.begin(), docs.begin() + 25), b(docs.begin() + 25, docs.end());
    auto shardA = collectSecondMoments(*model, tok, a, cp);
    const auto shardB = collectSecondMoments(*model, tok, b, cp);
    for (std::size_t i = 0; i < 2; ++i)
        shardA[i].merge(shardB[i]);
    CovarianceParams only3 = cp;
    only3.layers = {3};
    const auto layer3 = collectSecondMoments(*model, tok, docs, only3);
    QCOMPARE(shardA[1].count, whole[1].count);
    // The shards batch the documents differently from the whole pass, so the float32 keys are
    // rounded differently before they are summed in float64 (issue 18: an AMD machine failed an
    // element-wise 1e-9). Each key carries a relative error of a few float32 ulps (~1e-6 after
    // four blocks); the sums of their products agree to that, in norm (entries near zero cancel).
    const double shardError = (shardA[1].sum - whole[1].sum).norm().item<double>() / whole[1].sum.norm().item<double>();
    QVERIFY2(shardError < 1e-5, qPrintable(QString::number(shardError)));
    // One layer at a time batches the documents exactly as the one pass (and runs the same blocks
    // up to layer 3): literally the same computation.
    QVERIFY(at::allclose(layer3[0].sum, whole[1].sum, 1e-9, 1e-9));
    // Save and load keep the raw sums and counts.
    QTemporaryDir dir;
    const std::filesystem::path file = std::filesystem::path(dir.path().toStdString()) / "stats.safetensors";
    saveSecondMoments(file, whole, {{"corpus", "demo"}});
    const auto loaded = loadSecondMoments(file);
    QCOMPARE(loaded.size(), std::size_t(2));
    QCOMPARE(loaded[1].layer, 3);
    QCOMPARE(loaded[1].count, whole[1].count);
    QVERIFY(at::equal(loaded[1].sum, whole[1].sum));
    // The layers a file covers, from its header alone; a foreign safetensors file is refused.
    QCOMPARE(statisticsFileLayers({file}), (std::vector<int> {0, 3}));
    ENGRAM_EXPECT_ERROR(statisticsFileLayers({kDemo / "model" / "model.safetensors"}), ErrorKind::CorruptFile,
        "not an Engram statistics");
}

void TestMemit::rejectsBadRequests()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    MemitParams p;
    p.layers = {1};
    p.contextTemplates = kContexts;
    ENGRAM_EXPECT_ERROR(
        applyMemit(*model, tok, {{"no placeholder", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument, "exactly one {}");
    ENGRAM_EXPECT_ERROR(applyMemit(*model, tok, {{"{} is", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument,
        "no covariance statistics for layer 1");
    p.layers = {2, 1};
    ENGRAM_EXPECT_ERROR(applyMemit(*model, tok, {{"{} is", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument, "ascending");
    p.layers = {1};
    ENGRAM_EXPECT_ERROR(applyMemit(*model, tok, {{"{} is", "X", "Y", {"no placeholder"}}}, p, {}),
        ErrorKind::InvalidArgument, "exactly one {}");
}

QTEST_GUILESS_MAIN(TestMemit)
#include "tst_memit.moc"
