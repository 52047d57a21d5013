"""Tests of codeloop_client against a running `codeloop serve`, started by the Rust integration
test `serve::the_python_client_passes_its_tests` with `CODELOOP_URL`, `CODELOOP_TOKEN` and a
HumanEval dataset of one problem (`CODELOOP_CANONICAL` holds its canonical completion)."""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from codeloop_client import AsyncClient, Client, ServeError, compute_score, extract_code  # noqa: E402

URL = os.environ.get("CODELOOP_URL")
TOKEN = os.environ.get("CODELOOP_TOKEN")


@unittest.skipUnless(URL, "needs CODELOOP_URL: a running `codeloop serve` (the Rust test starts one)")
class ClientTest(unittest.TestCase):
    def setUp(self):
        self.client = Client(URL, token=TOKEN)

    def test_run_code_answers_in_sandboxfusion_shape(self):
        r = self.client.run_code("print(input()[::-1])", stdin="abc\n")
        self.assertEqual(r["status"], "Success")
        self.assertEqual(r["run_result"]["stdout"], "cba\n")
        self.assertIsNone(r["compile_result"])
        r = self.client.run_code("int main() { return 2; }", language="cpp", compile_timeout=30)
        self.assertEqual(r["status"], "Failed")
        self.assertEqual(r["run_result"]["return_code"], 2)

    def test_a_refused_request_names_its_field(self):
        with self.assertRaises(ServeError) as e:
            self.client.run_code("print(1)", language="cobol")
        self.assertEqual((e.exception.status, e.exception.field), (400, "language"))
        with self.assertRaises(ServeError) as e:
            Client(URL).run_code("print(1)")
        self.assertEqual(e.exception.status, 401)
        self.assertTrue(Client(URL).healthz())

    def test_execute_gives_per_test_verdicts(self):
        r = self.client.execute(
            "print(sum(map(int, input().split())))",
            [{"input": "1 2", "output": "3"}, {"input": "2 2", "output": "5"}],
        )
        self.assertFalse(r["passed"])
        self.assertEqual([t["verdict"] for t in r["report"]["tests"]], ["pass", "wrong_answer"])

    def test_evaluate_scores_a_completion(self):
        r = self.client.evaluate("HumanEval/0", completion=os.environ["CODELOOP_CANONICAL"])
        self.assertEqual((r["passed"], r["reward"]), (True, 1.0))
        r = self.client.evaluate("HumanEval/0", completion="    return True\n", reward="fraction")
        self.assertLess(r["reward"], 1.0)

    def test_an_episode_runs_to_its_end(self):
        canonical = os.environ["CODELOOP_CANONICAL"]
        episode = self.client.reset("HumanEval/0", options={"reward": "fraction"})
        prompt = episode["observation"]["messages"][-1]["content"]
        self.assertIn("has_close_elements", prompt)
        wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
        step = self.client.step(episode["episode_id"], wrong)
        self.assertFalse(step["terminated"] or step["truncated"])
        self.assertLess(step["reward"], 1.0)
        signature = prompt[prompt.index("def has_close_elements"):]
        signature = signature[: signature.index("```")] if "```" in signature else signature
        step = self.client.step(episode["episode_id"], "```python\nfrom typing import List\n\n" + signature + canonical + "```")
        self.assertEqual((step["reward"], step["terminated"]), (1.0, True))
        group = self.client.reset_batch(["HumanEval/0"], group_size=3)
        results = self.client.step_batch([{"episode_id": e["episode_id"], "action": wrong} for e in group])
        self.assertEqual(len(results), 3)
        self.assertTrue(all(r["reward"] == 0.0 for r in results))
        self.assertTrue(self.client.close(group[0]["episode_id"]))

    def test_the_async_client_keeps_many_requests_in_flight(self):
        async def main():
            client = AsyncClient(URL, token=TOKEN)
            return await asyncio.gather(*(client.run_code(f"print({i} * {i})") for i in range(8)))

        answers = asyncio.run(main())
        self.assertEqual([a["run_result"]["stdout"] for a in answers], [f"{i * i}\n" for i in range(8)])


@unittest.skipUnless(URL, "needs CODELOOP_URL: a running `codeloop serve` (the Rust test starts one)")
class RewardTest(unittest.TestCase):
    def score(self, answer, truth, **kwargs):
        return compute_score("codecontests", answer, truth, url=URL, token=TOKEN, **kwargs)

    def test_stdin_stdout_tests_give_a_fraction_or_a_binary_reward(self):
        answer = "Here:\n```python\nprint(int(input()) * 2)\n```\n"
        truth = json.dumps({"inputs": ["1\n", "2\n"], "outputs": ["2\n", "5\n"]})
        self.assertEqual(self.score(answer, truth), 0.5)
        self.assertEqual(self.score(answer, truth, reward="binary"), 0.0)
        self.assertEqual(self.score("no code here", truth), 0.0)

    def test_call_based_tests_accept_apps_wrapped_outputs(self):
        answer = "```python\nclass Solution:\n    def add(self, a, b):\n        return [a + b, a - b]\n```"
        truth = {"fn_name": "add", "inputs": [[1, 2], [5, 1]], "outputs": [[[3, -1]], [6, 4]]}
        self.assertEqual(self.score(answer, truth), 1.0)
        truth["outputs"][1] = [6, 5]
        self.assertEqual(self.score(answer, truth, reward="binary"), 0.0)


class ExtractTest(unittest.TestCase):
    def test_the_last_tagged_block_wins(self):
        text = "```\nfirst\n```\n```python\na\n```\n```python\nb\n```"
        self.assertEqual(extract_code(text), "b\n")
        self.assertEqual(extract_code("```\nonly\n```"), "only\n")
        self.assertIsNone(extract_code("plain"))


if __name__ == "__main__":
    unittest.main()
