#include "core/data/datasets.h"

#include "core/text/utf8.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

#include <sstream>

namespace engram {

const char *datasetFormatName(DatasetFormat format)
{
    switch (format) {
    case DatasetFormat::CounterFact:
        return "CounterFact";
    case DatasetFormat::Zsre:
        return "zsRE";
    case DatasetFormat::KnownFacts:
        return "known facts";
    case DatasetFormat::EasyEdit:
        return "EasyEdit";
    case DatasetFormat::Csv:
        return "CSV";
    }
    return "?";
}

std::string EvalRecord::prompt() const
{
    const auto at = promptTemplate.find("{}");
    return at == std::string::npos ? promptTemplate
                                   : promptTemplate.substr(0, at) + subject + promptTemplate.substr(at + 2);
}

namespace {

using nlohmann::json;

// A record-level problem: caught per record, reported, the record skipped.
struct RecordError {
    std::string field, reason;
};

std::string str(const json &obj, const char *field, bool required = true)
{
    const auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) {
        if (required)
            throw RecordError {field, "missing"};
        return {};
    }
    if (!it->is_string())
        throw RecordError {field, "not a string"};
    if (required && it->get<std::string>().empty())
        throw RecordError {field, "empty"};
    return it->get<std::string>();
}

std::vector<std::string> strList(const json &obj, const char *field)
{
    const auto it = obj.find(field);
    if (it == obj.end() || it->is_null())
        return {};
    if (it->is_string())
        return {it->get<std::string>()};
    if (!it->is_array())
        throw RecordError {field, "not a list of strings"};
    std::vector<std::string> out;
    for (const auto &v : *it) {
        if (v.is_string())
            out.push_back(v.get<std::string>());
        else if (v.is_object() && v.contains("prompt") && v["prompt"].is_string())
            out.push_back(v["prompt"].get<std::string>()); // {prompt, target} entries
        else
            throw RecordError {field, "holds something other than strings"};
    }
    return out;
}

// "{}" exactly once, and the subject placed where it occurs in a full prompt.
std::string templateFrom(const std::string &prompt, const std::string &subject, const char *field)
{
    const auto first = prompt.find("{}");
    if (first != std::string::npos) {
        if (prompt.find("{}", first + 2) != std::string::npos)
            throw RecordError {field, "has more than one {}"};
        return prompt;
    }
    const auto at = prompt.find(subject);
    if (at == std::string::npos)
        throw RecordError {field, "does not contain the subject '" + subject + "'"};
    return prompt.substr(0, at) + "{}" + prompt.substr(at + subject.size());
}

EvalRecord fromCounterFact(const json &r, int64_t index)
{
    if (!r.contains("requested_rewrite") || !r["requested_rewrite"].is_object())
        throw RecordError {"requested_rewrite", "missing or not an object"};
    const json &rw = r["requested_rewrite"];
    EvalRecord e;
    e.caseId = r.contains("case_id") && r["case_id"].is_number_integer() ? r["case_id"].get<int64_t>() : index;
    e.subject = str(rw, "subject");
    e.promptTemplate = templateFrom(str(rw, "prompt"), e.subject, "requested_rewrite.prompt");
    e.relationId = str(rw, "relation_id", false);
    for (const char *t : {"target_new", "target_true"}) {
        if (!rw.contains(t) || !rw[t].is_object())
            throw RecordError {std::string("requested_rewrite.") + t, "missing or not an object"};
        // target_true may be empty (facts curated without the old object; exported projects).
        const bool isNew = std::string(t) == "target_new";
        (isNew ? e.targetNew : e.targetTrue) = str(rw[t], "str", /*required=*/isNew);
    }
    e.targetNewId = str(rw["target_new"], "id", false);
    e.paraphrasePrompts = strList(r, "paraphrase_prompts");
    e.neighborhoodPrompts = strList(r, "neighborhood_prompts");
    e.attributePrompts = strList(r, "attribute_prompts");
    e.generationPrompts = strList(r, "generation_prompts");
    e.tags = strList(r, "tags");
    return e;
}

EvalRecord fromZsre(const json &r, int64_t index)
{
    EvalRecord e;
    e.caseId = index;
    e.subject = str(r, "subject");
    e.promptTemplate = templateFrom(str(r, "src"), e.subject, "src");
    const auto answers = strList(r, "answers");
    if (answers.empty() || answers.front().empty())
        throw RecordError {"answers", "missing or empty"};
    e.targetNew = answers.front(); // the reference inserts the gold answer
    e.paraphrasePrompts = strList(r, "rephrase");
    e.localityPrompt = str(r, "loc", false);
    e.localityAnswer = str(r, "loc_ans", false);
    if (!e.localityPrompt.empty())
        e.localityPrompt += "?";
    return e;
}

EvalRecord fromKnownFact(const json &r, int64_t index)
{
    EvalRecord e;
    e.caseId = r.contains("known_id") && r["known_id"].is_number_integer() ? r["known_id"].get<int64_t>() : index;
    e.subject = str(r, "subject");
    e.promptTemplate = templateFrom(str(r, "prompt"), e.subject, "prompt");
    e.targetTrue = r.contains("attribute") ? str(r, "attribute")
        : r.contains("object")             ? str(r, "object")
                                           : str(r, "expected", false);
    e.relationId = r.contains("relation_id") ? str(r, "relation_id", false) : str(r, "relation", false);
    return e;
}

EvalRecord fromEasyEdit(const json &r, int64_t index)
{
    EvalRecord e;
    e.caseId = index;
    e.subject = str(r, "subject");
    e.promptTemplate = templateFrom(str(r, "prompt"), e.subject, "prompt");
    e.targetNew = str(r, "target_new");
    e.targetTrue = str(r, "ground_truth", false);
    e.paraphrasePrompts = strList(r, "rephrase_prompt");
    e.neighborhoodPrompts = strList(r, "locality_prompt");
    e.localityAnswer = str(r, "locality_ground_truth", false);
    return e;
}

DatasetFormat detect(const json &first, const std::filesystem::path &file)
{
    if (first.contains("requested_rewrite"))
        return DatasetFormat::CounterFact;
    if (first.contains("src") && first.contains("answers"))
        return DatasetFormat::Zsre;
    if (first.contains("prompt")
        && (first.contains("attribute") || first.contains("expected") || first.contains("object")))
        return DatasetFormat::KnownFacts;
    if (first.contains("prompt") && first.contains("subject") && !first.contains("target_new"))
        return DatasetFormat::KnownFacts; // facts to trace without an expected object
    if (first.contains("target_new") && first.contains("prompt"))
        return DatasetFormat::EasyEdit;
    throw Error(ErrorKind::CorruptFile,
        file.string() + ": the first record matches no known format (CounterFact, zsRE, known facts, EasyEdit)");
}

// CSV records (RFC 4180: quoted fields may hold commas, quotes as "" and line breaks), each
// with the line it starts on.
struct CsvRecord {
    int64_t line = 0;
    std::vector<std::string> fields;
};

std::vector<CsvRecord> csvRecords(const std::string &text, const std::filesystem::path &file)
{
    std::vector<CsvRecord> out;
    std::size_t i = 0;
    // A byte order mark, as spreadsheet programs write it, is not part of the first column's name.
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0)
        i = 3;
    int64_t line = 1;
    CsvRecord current {line, {std::string()}};
    bool quoted = false;
    int64_t quoteLine = 0;
    auto finish = [&] {
        const bool blank = current.fields.size() == 1 && current.fields[0].find_first_not_of(" \t") == std::string::npos;
        if (!blank)
            out.push_back(std::move(current));
        current = CsvRecord {line, {std::string()}};
    };
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                current.fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                if (c == '\n')
                    ++line;
                current.fields.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
            quoteLine = line;
        } else if (c == ',') {
            current.fields.emplace_back();
        } else if (c == '\n') {
            ++line;
            finish();
        } else if (c != '\r') {
            current.fields.back() += c;
        }
    }
    if (quoted)
        throw Error(ErrorKind::CorruptFile,
            file.string() + ", line " + std::to_string(quoteLine) + ": a quoted field is never closed");
    finish();
    return out;
}

// List columns: items between "|"; "\|" and "\\" stand for a literal | and \.
std::vector<std::string> splitBar(const std::string &s)
{
    std::vector<std::string> out;
    std::string item;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '|' || s[i + 1] == '\\')) {
            item += s[++i];
        } else if (s[i] == '|') {
            if (!item.empty())
                out.push_back(item);
            item.clear();
        } else {
            item += s[i];
        }
    }
    if (!item.empty())
        out.push_back(item);
    return out;
}

Dataset importCsv(const std::filesystem::path &file, int64_t limit)
{
    Dataset d;
    d.format = DatasetFormat::Csv;
    const auto rows = csvRecords(readTextFile(file), file);
    if (rows.empty())
        throw Error(ErrorKind::CorruptFile, file.string() + ": empty CSV file");
    const auto &header = rows.front().fields;
    auto column = [&](const std::string &name) -> int {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == name)
                return static_cast<int>(i);
        return -1;
    };
    const int cSubject = column("subject"), cPrompt = column("prompt"), cNew = column("target_new"),
              cTrue = column("target_true"), cRelation = column("relation"), cPara = column("paraphrases"),
              cNeigh = column("neighborhood"), cAttr = column("attribute_prompts"),
              cGen = column("generation_prompts"), cTags = column("tags"), cCase = column("case_id");
    if (cSubject < 0 || cPrompt < 0 || cNew < 0)
        throw Error(ErrorKind::CorruptFile,
            file.string() + ": the CSV header (line 1) needs the columns subject, prompt and target_new");
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto &f = rows[r].fields;
        const int64_t index = static_cast<int64_t>(r); // records count from 1, after the header
        auto get = [&](int c) {
            return c >= 0 && c < static_cast<int>(f.size()) ? f[static_cast<std::size_t>(c)] : std::string();
        };
        try {
            EvalRecord e;
            e.caseId = index - 1;
            if (!get(cCase).empty()) {
                std::size_t used = 0;
                try {
                    e.caseId = std::stoll(get(cCase), &used);
                } catch (const std::exception &) {
                    used = 0;
                }
                if (used != get(cCase).size())
                    throw RecordError {"case_id", "'" + get(cCase) + "' is not a whole number"};
            }
            e.subject = get(cSubject);
            if (e.subject.empty())
                throw RecordError {"subject", "empty"};
            if (get(cPrompt).empty())
                throw RecordError {"prompt", "empty"};
            e.promptTemplate = templateFrom(get(cPrompt), e.subject, "prompt");
            e.targetNew = get(cNew);
            if (e.targetNew.empty())
                throw RecordError {"target_new", "empty"};
            e.targetTrue = get(cTrue);
            e.relationId = get(cRelation);
            e.paraphrasePrompts = splitBar(get(cPara));
            e.neighborhoodPrompts = splitBar(get(cNeigh));
            e.attributePrompts = splitBar(get(cAttr));
            e.generationPrompts = splitBar(get(cGen));
            e.tags = splitBar(get(cTags));
            d.records.push_back(std::move(e));
        } catch (const RecordError &err) {
            d.rejected.push_back({index, err.field, err.reason + " (line " + std::to_string(rows[r].line) + ")"});
        }
        if (limit > 0 && static_cast<int64_t>(d.records.size()) >= limit)
            break;
    }
    return d;
}

} // namespace

Dataset importDataset(const std::filesystem::path &file, int64_t limit)
{
    if (file.extension() == ".csv")
        return importCsv(file, limit);
    json doc;
    try {
        std::string text = readTextFile(file);
        if (text.compare(0, 3, "\xEF\xBB\xBF") == 0)
            text.erase(0, 3);
        doc = json::parse(text);
    } catch (const json::exception &e) {
        throw Error(ErrorKind::CorruptFile, file.string() + ": not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (!doc.is_array())
        throw Error(ErrorKind::CorruptFile, file.string() + ": expected a JSON list of records");
    Dataset d;
    if (doc.empty())
        return d;
    if (!doc[0].is_object())
        throw Error(ErrorKind::CorruptFile, file.string() + ": record 1 is not a JSON object");
    d.format = detect(doc[0], file);
    for (std::size_t i = 0; i < doc.size(); ++i) {
        if (limit > 0 && static_cast<int64_t>(d.records.size()) >= limit)
            break;
        const json &r = doc[i];
        const int64_t index = static_cast<int64_t>(i) + 1;
        try {
            if (!r.is_object())
                throw RecordError {"(record)", "not a JSON object"};
            switch (d.format) {
            case DatasetFormat::CounterFact:
                d.records.push_back(fromCounterFact(r, index - 1));
                break;
            case DatasetFormat::Zsre:
                d.records.push_back(fromZsre(r, index - 1));
                break;
            case DatasetFormat::KnownFacts:
                d.records.push_back(fromKnownFact(r, index - 1));
                break;
            case DatasetFormat::EasyEdit:
                d.records.push_back(fromEasyEdit(r, index - 1));
                break;
            case DatasetFormat::Csv:
                break;
            }
        } catch (const RecordError &err) {
            d.rejected.push_back({index, err.field, err.reason});
        }
    }
    return d;
}

namespace {
std::string csvField(const std::string &value)
{
    if (value.find_first_of(",\"\n\r") == std::string::npos && (value.empty() || (value.front() != ' ' && value.back() != ' ')))
        return value;
    std::string out = "\"";
    for (char c : value)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string joinBar(const std::vector<std::string> &items)
{
    std::string out;
    for (const auto &i : items) {
        if (!out.empty())
            out += '|';
        for (char c : i) {
            if (c == '|' || c == '\\')
                out += '\\';
            out += c;
        }
    }
    return out;
}
} // namespace

void exportDataset(const std::vector<EvalRecord> &records, const std::filesystem::path &file)
{
    // JSON can only carry well-formed UTF-8, and a CSV with broken bytes would not import again:
    // refuse before anything is written, naming the record and the field.
    for (std::size_t i = 0; i < records.size(); ++i) {
        const EvalRecord &r = records[i];
        const auto bad = [&](const char *field) {
            throw Error(ErrorKind::InvalidArgument,
                file.string() + ": record " + std::to_string(i + 1) + " (case_id " + std::to_string(r.caseId)
                    + "): the " + field + " is not valid UTF-8 text; nothing was written");
        };
        const std::pair<const char *, const std::string *> fields[] = {{"subject", &r.subject},
            {"prompt", &r.promptTemplate}, {"relation", &r.relationId}, {"new object", &r.targetNew},
            {"new object id", &r.targetNewId}, {"true object", &r.targetTrue}};
        for (const auto &[name, value] : fields)
            if (!utf8::isValid(*value))
                bad(name);
        const std::pair<const char *, const std::vector<std::string> *> lists[] = {
            {"paraphrase prompts", &r.paraphrasePrompts}, {"neighborhood prompts", &r.neighborhoodPrompts},
            {"attribute prompts", &r.attributePrompts}, {"generation prompts", &r.generationPrompts},
            {"tags", &r.tags}};
        for (const auto &[name, values] : lists)
            for (const auto &v : *values)
                if (!utf8::isValid(v))
                    bad(name);
    }
    std::string text;
    if (file.extension() == ".json") {
        nlohmann::json list = nlohmann::json::array();
        for (const auto &r : records) {
            nlohmann::json item = {{"case_id", r.caseId},
                {"requested_rewrite",
                    {{"prompt", r.promptTemplate}, {"subject", r.subject}, {"relation_id", r.relationId},
                        {"target_new", {{"str", r.targetNew}, {"id", r.targetNewId}}},
                        {"target_true", {{"str", r.targetTrue}, {"id", ""}}}}},
                {"paraphrase_prompts", r.paraphrasePrompts}, {"neighborhood_prompts", r.neighborhoodPrompts},
                {"attribute_prompts", r.attributePrompts}, {"generation_prompts", r.generationPrompts}};
            if (!r.tags.empty())
                item["tags"] = r.tags;
            list.push_back(std::move(item));
        }
        text = list.dump(2) + "\n";
    } else if (file.extension() == ".csv") {
        text = "case_id,subject,prompt,relation,target_new,target_true,paraphrases,neighborhood,attribute_prompts,"
               "generation_prompts,tags\n";
        for (const auto &r : records)
            text += std::to_string(r.caseId) + "," + csvField(r.subject) + "," + csvField(r.promptTemplate) + ","
                + csvField(r.relationId) + "," + csvField(r.targetNew) + "," + csvField(r.targetTrue) + ","
                + csvField(joinBar(r.paraphrasePrompts)) + "," + csvField(joinBar(r.neighborhoodPrompts)) + ","
                + csvField(joinBar(r.attributePrompts)) + "," + csvField(joinBar(r.generationPrompts)) + ","
                + csvField(joinBar(r.tags)) + "\n";
    } else {
        throw Error(ErrorKind::InvalidArgument, file.string() + ": facts are exported as .json (CounterFact) or .csv");
    }
    AtomicFile out(file);
    out.write(text.data(), text.size());
    out.commit();
}

} // namespace engram
