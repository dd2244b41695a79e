// The web app's one file, after the switch (it was `hc<AppType>` with the old API's `AppType`).
// Clerk's `getToken` is set by the app at sign-in; here the tests set it.
import { createClient } from "@formula/api-client";

export const session: { getToken: () => Promise<string | null> } = {
  getToken: async () => null,
};

export const client = createClient({
  baseUrl: process.env.NEXT_PUBLIC_API_URL!,
  getToken: () => session.getToken(),
});
