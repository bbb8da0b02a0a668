#pragma once
// What the benchmark programs share: "--name value" options checked against the known names,
// a stopwatch reading, and a main() that prints an exception as "program: message" and exits 1.

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace engram::bench {

/// Reads "--name value" pairs into `options` (which holds the defaults). A name that is neither
/// there nor in `extra` (options without a default), or that lacks a value, throws.
inline void readOptions(int argc, char **argv, std::map<std::string, std::string> &options,
    const std::set<std::string> &extra = {})
{
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (!options.count(name) && !extra.count(name)) {
            std::string known;
            for (const auto &o : options)
                known += " " + o.first;
            for (const auto &o : extra)
                known += " " + o;
            throw std::runtime_error("unknown option " + name + " (options:" + known + ")");
        }
        if (i + 1 >= argc)
            throw std::runtime_error("option " + name + " needs a value");
        options[name] = argv[i + 1];
    }
}

/// Seconds since `start` on the steady clock.
inline double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Runs `run` and turns an exception into a message on stderr and exit status 1.
template<typename Run>
int guardedMain(const char *program, Run run)
{
    try {
        return run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: %s\n", program, e.what());
        return 1;
    }
}

} // namespace engram::bench
